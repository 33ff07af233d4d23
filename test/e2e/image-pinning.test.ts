import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { pino } from 'pino';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { Agent } from '../../src/node/agent.js';
import { ControlApi } from '../../src/node/api/control-api.js';
import { LABELS } from '../../src/node/drivers/docker-container-config.js';
import type { Digest } from '../../src/registry-p2p/digest.js';
import {
  FAST_WORKLOADS,
  joinAddress,
  meshFormed,
  startAgent,
  tempDir,
  testConfig,
  waitFor,
} from '../support/agents.js';
import { connectDocker, removeByLabel } from '../support/docker.js';
import { bundle, meshctl } from '../support/processes.js';
import {
  busyboxLayer,
  imageConfig,
  type PushedImage,
  pushImage,
  startUpstreamRegistry,
  type UpstreamRegistry,
} from '../support/registry.js';

/**
 * Issue 23's acceptance: a job submitted as `repo:tag` runs the digest the tag named at submission, through
 * whole agents on the real Docker Engine and a real upstream registry, after the tag moves upstream and after the
 * upstream is gone.
 */
let docker: Docker;
let upstream: UpstreamRegistry;
let first: PushedImage;
let second: PushedImage;
const agents: Agent[] = [];
const cleanups: (() => Promise<void>)[] = [];
let api = '';
const name = `pin-${randomUUID().slice(0, 8)}`;
const REPO = 'mycel/pinned';

async function pushMarked(marker: string): Promise<PushedImage> {
  const layer = await busyboxLayer(marker);
  return pushImage(upstream.direct, REPO, 'v1', imageConfig([layer.tar]), [layer.gz]);
}

beforeAll(async () => {
  docker = await connectDocker();
  await bundle();
  upstream = await startUpstreamRegistry();
  first = await pushMarked(`first-${randomUUID()}`);
  for (let i = 0; i < 2; i++) {
    const dir = await tempDir();
    cleanups.push(dir.cleanup);
    const joins = agents[0] ? [joinAddress(agents[0])] : [];
    agents.push(
      await startAgent(
        testConfig({
          dataDir: dir.path,
          name: `pin${i}`,
          join: joins,
          driver: 'docker',
          registryListen: '127.0.0.1:0',
        }),
        FAST_WORKLOADS,
      ),
    );
  }
  await waitFor('both agents to hold both node records', () => meshFormed(agents), 30_000);
  const control = new ControlApi(agents[0]!.routes(), pino({ level: 'silent' }));
  const { port } = await control.listen('127.0.0.1:0', false);
  api = `http://127.0.0.1:${port}`;
  cleanups.push(() => control.close());
}, 120_000);

afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  await removeByLabel(docker, `${LABELS.job}=${name}`);
  for (const cleanup of cleanups.reverse()) await cleanup();
  await upstream?.stop();
}, 60_000);

const ctl = (...args: string[]) => meshctl(['--api', api, ...args]);

/** The engine's view: the image id of every running container of the job (of one version). */
async function runningImages(version?: number): Promise<string[]> {
  const label = [`${LABELS.job}=${name}`, ...(version ? [`${LABELS.version}=${version}`] : [])];
  const found = await docker.listContainers({ filters: { label } });
  return found.map((c) => c.ImageID);
}

test('an image that cannot be pinned stops job run with the cause, unless --no-pin', async () => {
  const file = join(agents[0]!.config.dataDir, 'bad.yaml');
  const submit = async (image: string, ...flags: string[]) => {
    await writeFile(file, `name: ${name}-bad\ndriver: docker\nimage: ${image}\ncommand: sh\ncount: 0\n`);
    return ctl('job', 'run', ...flags, file);
  };
  const unknown = await submit(`${upstream.host}/${REPO}:nope`);
  expect(unknown.code).toBe(1);
  expect(unknown.stderr).toMatch(
    new RegExp(`^meshctl: cannot pin ${upstream.host}/${REPO}:nope to a digest: manifest unknown .*--no-pin`),
  );
  const unreachable = await submit('127.0.0.1:9/mycel/app:1');
  expect(unreachable.code).toBe(1);
  expect(unreachable.stderr).toMatch(
    /^meshctl: cannot pin 127\.0\.0\.1:9\/mycel\/app:1 to a digest: .*127\.0\.0\.1:9 unreachable.*no peer knows the tag/,
  );
  expect((await ctl('job', 'list')).stdout).not.toContain(`${name}-bad`);

  const unpinned = await submit('127.0.0.1:9/mycel/app:1', '--no-pin');
  expect(unpinned.stderr).toMatch(/^warning: 127\.0\.0\.1:9\/mycel\/app:1 is submitted by tag \(--no-pin\)/);
  expect(unpinned.stdout).toMatch(new RegExp(`^job "${name}-bad" version 1 submitted`));
  const status = JSON.parse((await ctl('-o', 'json', 'job', 'status', `${name}-bad`)).stdout);
  expect(status.spec.image).toBe('127.0.0.1:9/mycel/app:1');
  await ctl('job', 'stop', '--purge', `${name}-bad`);
}, 60_000);

test('a job submitted as repo:tag keeps running the digest it was signed with after the tag moves', async () => {
  const image = `${upstream.host}/${REPO}:v1`;
  const pinned = `${image}@${first.manifest.digest}`;
  const file = join(agents[0]!.config.dataDir, 'job.yaml');
  await writeFile(
    file,
    [
      `name: ${name}`,
      'driver: docker',
      `image: ${image} # moves`,
      'command: sh',
      `args: ["-c", "trap 'exit 0' TERM; sleep 300 & wait"]`,
      'count: 1',
      'resources: { cpu: 100, memory: 32 }',
    ].join('\n'),
  );
  const run = await ctl('job', 'run', file);
  expect(run.stderr).toBe('');
  expect(run.stdout).toMatch(new RegExp(`^job "${name}" version 1 submitted`));
  const spec = async () => JSON.parse((await ctl('-o', 'json', 'job', 'status', name)).stdout).spec;
  expect((await spec()).image).toBe(pinned);
  const status = await ctl('job', 'status', name);
  expect(status.stdout).toContain(`Image:     ${image} (${first.manifest.digest.slice(0, 19)}…)\n`);

  await waitFor('the copy to run', async () => (await runningImages()).length === 1, 60_000);
  // An image pulled from a registry has its config's digest for id.
  expect(await runningImages()).toEqual([first.config.digest]);

  // The tag moves upstream to another image.
  second = await pushMarked(`second-${randomUUID()}`);
  const moved = await fetch(`http://${upstream.direct}/v2/${REPO}/manifests/v1`, {
    headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' },
  });
  expect(moved.headers.get('docker-content-digest')).toBe(second.manifest.digest);

  // job plan pins as job run would: the moved tag shows as a change of digest, and nothing is submitted.
  const plan = await ctl('job', 'plan', file);
  expect(plan.stdout).toContain(first.manifest.digest);
  expect(plan.stdout).toContain(second.manifest.digest);
  expect(plan.stdout).toMatch(/image/);
  expect((await spec()).image).toBe(pinned);

  // A second copy is placed later, on the agent that has pulled nothing yet, with the uplink gone: it takes the
  // signed digest from its peer, not the tag from anywhere.
  await upstream.cut();
  const scaled = await ctl('job', 'scale', name, '2');
  expect(scaled.stdout).toMatch(new RegExp(`^job "${name}" version 2 submitted`));
  expect((await spec()).image).toBe(pinned);
  await waitFor(
    'both copies of version 2 to run',
    async () => (await runningImages(2)).length === 2,
    90_000,
    () => JSON.stringify(agents[0]!.state.state.allocations().filter((a) => a.job === name)),
  );
  expect(await runningImages(2)).toEqual([first.config.digest, first.config.digest]);
  expect(new Set(await runningImages())).toEqual(new Set([first.config.digest]));
  const runners = new Set(
    agents[0]!.state.state
      .allocations()
      .filter((s) => s.job === name && s.jobVersion === 2 && s.state === 'running')
      .map((s) => s.node),
  );
  expect(runners).toEqual(new Set(agents.map((a) => a.peerId)));
  // Each agent's endpoint served the digest to its Docker: both hold the signed manifest. The new image's
  // manifest was only resolved (by job plan), its config never fetched.
  for (const a of agents) {
    expect(a.registry.store.has(first.manifest.digest as Digest)).toBe(true);
    expect(a.registry.store.has(second.config.digest as Digest)).toBe(false);
  }
  const info = await docker.getImage(first.config.digest).inspect();
  expect(info.RepoDigests.some((d) => d.endsWith(`/${REPO}@${first.manifest.digest}`))).toBe(true);
  expect(info.RepoDigests.some((d) => d.endsWith(second.manifest.digest))).toBe(false);
}, 240_000);
