/**
 * Three real agents on loopback, each at its own address (127.0.0.11-13), run a job that declares a service:
 * every agent's `meshctl service list` shows the two healthy copies at their devices' addresses, a copy that
 * fails its check drops out everywhere, and each agent's DNS server answers for the service.
 *
 * All three devices share this host, so the copies share its ports: the server binds with SO_REUSEPORT, and the
 * health check is an exec check in the copy's own directory (an http check would reach either copy at
 * 127.0.0.1 and could not tell them apart). A busybox container on the host network resolves the service
 * through svc-1's DNS server on port 53.
 */
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { readdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as dns from 'dns-packet';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { AllocDetail, ServiceInfo } from '../../src/node/api/types.js';
import { tempDir, waitFor } from '../support/agents.js';
import { apiGet, type MeshdAgent, startMeshdMesh, stopMeshd } from '../support/meshd-mesh.js';
import { bundle, meshctl } from '../support/processes.js';

beforeAll(bundle, 60_000);
const execFileAsync = promisify(execFile);

let agents: MeshdAgent[] = [];
let root: Awaited<ReturnType<typeof tempDir>> | undefined;
afterAll(async () => {
  await Promise.all(agents.map(stopMeshd));
  await root?.cleanup();
});

/** busybox nslookup asks port 53 only: svc-1 answers there, on a loopback address of its own. */
const DNS53 = `127.0.${100 + Math.floor(Math.random() * 100)}.${2 + Math.floor(Math.random() * 200)}`;
const HOSTS: Record<string, string> = { 'svc-1': '127.0.0.11', 'svc-2': '127.0.0.12', 'svc-3': '127.0.0.13' };

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The port the agent's DNS server bound (`--dns-listen 127.0.0.1:0`), from its log. */
function dnsPort(agent: MeshdAgent): number {
  const port = /"dns":"127\.[0-9.]+:(\d+)"/.exec(agent.child.output())?.[1];
  if (port === undefined) throw new Error(`${agent.name} logged no DNS address`);
  return Number(port);
}

/** dns-packet decodes `rcode`; its typings leave it out. */
const rcodeOf = (packet: dns.DecodedPacket) => (packet as { rcode?: string }).rcode;
const dataOf = (record: dns.Answer) => (record as { data?: unknown }).data;

async function sendRaw(port: number, bytes: Buffer): Promise<dns.DecodedPacket | undefined> {
  const client = createSocket('udp4');
  try {
    client.send(bytes, port, port === 53 ? DNS53 : '127.0.0.1');
    const reply = once(client, 'message').then(([msg]) => dns.decode(msg as Buffer));
    return await Promise.race([reply, new Promise<undefined>((r) => setTimeout(() => r(undefined), 2_000))]);
  } finally {
    client.close();
  }
}

async function ask(port: number, name: string, type: dns.RecordType): Promise<dns.DecodedPacket> {
  const reply = await sendRaw(port, dns.encode({ type: 'query', id: 9, questions: [{ type, name }] }));
  if (reply === undefined) throw new Error(`no DNS answer for ${name} ${type}`);
  return reply;
}

async function allocDir(agent: MeshdAgent, allocId: string): Promise<string> {
  const entries = await readdir(agent.dataDir, { recursive: true, withFileTypes: true });
  const found = entries.find((e) => e.isDirectory() && e.name === allocId);
  if (!found) throw new Error(`no directory for ${allocId} under ${agent.dataDir}`);
  return join(found.parentPath, found.name);
}

test('every agent lists and resolves the healthy copies of a service at their devices addresses', async () => {
  root = await tempDir('mycel-services-');
  ({ agents } = await startMeshdMesh(root.path, Object.keys(HOSTS), {
    driver: 'exec',
    heartbeatIntervalMs: 250,
    suspectAfterMs: 1_500,
    lostAfterMs: 5_000,
    listenHost: (name) => HOSTS[name]!,
    extraArgs: (name) => ['--dns-listen', name === 'svc-1' ? `${DNS53}:53` : '127.0.0.1:0'],
  }));
  const port = await freePort();
  const server = `require('http').createServer((q, s) => s.end('ok')).listen({ port: ${port}, reusePort: true })`;
  const file = join(root.path, 'web.json');
  await writeFile(
    file,
    JSON.stringify({
      name: 'web',
      driver: 'exec',
      count: 2,
      command: process.execPath,
      args: ['-e', server],
      ports: [{ name: 'http', host: port }],
      services: [{ name: 'web', port: 'http', tags: ['e2e'] }],
      health: {
        type: 'exec',
        command: ['/bin/sh', '-c', 'test ! -e unhealthy'],
        interval: '3s',
        timeout: '2s',
      },
      restart: { attempts: 0 },
    }),
  );
  const ctl = (agent: MeshdAgent, ...args: string[]) =>
    meshctl(['--api', agent.api, '--data-dir', agent.dataDir, ...args]);
  const run = await ctl(agents[0]!, 'job', 'run', file);
  expect(run.stderr).toBe('');

  const names = new Map(agents.map((a) => [a.peerId, a.name]));
  const views = async () =>
    Promise.all(
      agents.map(
        async (a) => JSON.parse((await ctl(a, '-o', 'json', 'service', 'list')).stdout) as ServiceInfo[],
      ),
    );
  let seen: ServiceInfo[][] = [];
  await waitFor(
    'every agent to list 2 healthy instances of web',
    async () => {
      seen = await views();
      return seen.every((v) => v[0]?.instances.length === 2);
    },
    40_000,
    () => JSON.stringify(seen),
  );
  for (const view of seen) {
    expect(view).toHaveLength(1);
    expect(view[0]).toMatchObject({ name: 'web', jobs: ['web'] });
    for (const instance of view[0]!.instances) {
      expect(instance).toMatchObject({ port, protocol: 'tcp', health: 'healthy', tags: ['e2e'], job: 'web' });
      expect(instance.address).toBe(HOSTS[names.get(instance.node)!]);
    }
    expect(view).toEqual(seen[0]);
  }
  const [sick, kept] = seen[0]![0]!.instances;

  // Each agent's DNS server answers from its own catalog: A, SRV, NXDOMAIN; garbage changes nothing.
  for (const agent of agents) {
    const dnsAt = dnsPort(agent);
    await sendRaw(dnsAt, Buffer.from('\u0000\u0001garbage that is no DNS packet'));
    const a = await ask(dnsAt, 'web.service.mycel', 'A');
    expect(rcodeOf(a)).toBe('NOERROR');
    expect(a.answers?.map(dataOf).sort()).toEqual([sick!.address, kept!.address].sort());
    const srv = await ask(dnsAt, 'web.service.mycel', 'SRV');
    expect(srv.answers?.map((r) => (dataOf(r) as { port: number }).port)).toEqual([port, port]);
    expect(rcodeOf(await ask(dnsAt, 'nope.service.mycel', 'A'))).toBe('NXDOMAIN');
    expect(rcodeOf(await ask(dnsAt, 'example.com', 'A'))).toBe('REFUSED');
  }
  expect(agents.every((a) => a.child.exitCode === null)).toBe(true);
  // From a container on the host network, with the stock busybox resolver.
  const lookup = await execFileAsync(
    'docker',
    ['run', '--rm', '--network', 'host', 'local/busybox:1', 'nslookup', 'web.service.mycel', DNS53],
    { timeout: 30_000 },
  );
  for (const instance of [sick!, kept!]) expect(lookup.stdout).toContain(`Address: ${instance.address}`);
  // The server answers at the address the catalog gives.
  expect(await (await fetch(`http://${sick!.address}:${port}/`)).text()).toBe('ok');

  const status = JSON.parse((await ctl(agents[2]!, '-o', 'json', 'service', 'status', 'web')).stdout);
  expect(status).toEqual(seen[2]![0]);
  const table = (await ctl(agents[1]!, 'service', 'status', 'web')).stdout;
  expect(table).toMatch(/^DNS: +web\.service\.mycel$/m);
  expect(table).toContain(`${kept!.address}`);
  const missing = await ctl(agents[1]!, 'service', 'status', 'db');
  expect(missing.code).not.toBe(0);
  expect(missing.stderr).toMatch(/no running job declares service "db"/);

  // One copy fails its check: it drops out of every agent's catalog, the other stays.
  const owner = agents.find((a) => a.peerId === sick!.node)!;
  await writeFile(join(await allocDir(owner, sick!.allocId), 'unhealthy'), '');
  await waitFor(
    `every agent to drop ${sick!.allocId}`,
    async () => {
      seen = await views();
      return seen.every((v) => !v[0]?.instances.some((i) => i.allocId === sick!.allocId));
    },
    30_000,
    () => JSON.stringify(seen),
  );
  for (const view of seen) expect(view[0]!.instances.map((i) => i.allocId)).toContain(kept!.allocId);
  for (const agent of agents) {
    const a = await ask(dnsPort(agent), 'web.service.mycel', 'A');
    expect(a.answers?.map(dataOf)).toEqual([kept!.address]);
  }
  // It dropped out for failing its check, while it still runs (three failures in a row would stop it).
  const detail = await apiGet<AllocDetail>(owner, `/v1/allocs/${sick!.allocId}`);
  expect(detail.status).toMatchObject({ state: 'running', health: 'unhealthy' });
}, 120_000);
