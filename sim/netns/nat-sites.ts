import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, openSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { API_TOKEN_FILE } from '../../src/node/api/api-token.js';
import type { AgentStatus } from '../../src/node/api/types.js';
import { progress as log, round, sleep } from '../run-steps.js';
import { agentRequest } from './agent-request.js';
import { NatTopology } from './nat-topology.js';
import { projectRoot } from './run-netns.js';
import { pullAtSite, type SitePull, seedImage } from './site-image.js';

const run = promisify(execFile);
const ROOT = projectRoot();
const MESHD = join(ROOT, 'dist', 'meshd.mjs');
const MESHCTL = join(ROOT, 'dist', 'meshctl.mjs');
const API_RELAY = join(ROOT, 'dist', 'build', 'sim', 'netns', 'api-relay.js');
const MESH_PORT = 4001;
const API_PORT = 7411;
/** Log lines the copy at site 2 prints: enough that the relayed bytes stand out of the mesh's own traffic. */
export const LOG_LINES = 20_000;
/** The layer held only at site 2: larger than any relayed connection's data limit would matter for, MiB-sized. */
export const LAYER_BYTES = 8 * 1024 * 1024;
const REGISTRY_ENDPOINT = '127.0.0.1:5050';

const progress = (message: string) => log(`nat-sites ${message}`);

type Member = 'relay' | 'site1' | 'site2';

/** One operation from site 1 to the device at site 2: how long it took and what crossed the relay meanwhile. */
export interface RelayedOperation {
  ms: number;
  /** Bytes through the relay's WAN interface during the operation, both ways (the mesh's own traffic included). */
  relayBytes: number;
  /** The relay's bytes over as long a quiet stretch just before: the mesh's own traffic, for comparison. */
  quietBytes: number;
}

export interface NatSitesReport {
  /** The NAT is real: the relay could not open a connection to either device, nor one site to the other. */
  directDialsRefused: boolean;
  meshFormedS: number;
  reachability: Record<Member, AgentStatus['reachability']>;
  /** `meshctl alloc logs` at site 1 of the copy at site 2. */
  logs: RelayedOperation & { lines: number; lastLine: string };
  /** `meshctl alloc exec` at site 1 of the copy at site 2 (operator-signed): its output and exit code. */
  exec: RelayedOperation & { stdout: string; exitCode: number | undefined };
  /** `meshctl --remote-token ... status` at site 1, the token naming site 2's relayed address. */
  remoteStatus: RelayedOperation & { peerId: string; expected: string };
  /** Relayed connections site 1's agent held after the log read. */
  site1RelayedConnections: number;
  /**
   * State sync sessions the two sites failed to dial from just before the log read to 3 s after it: the relayed
   * connection the read opened must not be taken for state sync (it is limited; libp2p refuses the stream).
   */
  syncFailuresAroundRelay: number;
  /**
   * An image held only at site 2, pulled at site 1 with every upstream down (manifest by digest, then the layer),
   * fetched through the relay member on direct connections: what arrived, and what crossed the relay meanwhile.
   */
  fetchThrough: SitePull & { relayBytes: number; relayKeptLayer: boolean };
}

/**
 * Two sites behind NAT (nat-topology.ts) and a reachable relay, each running dist/meshd.mjs in a closed mesh
 * (pre-shared key, signed jobs). A job pinned to site 2 prints LOG_LINES lines; from site 1, `meshctl alloc logs`
 * reads them and a remote meshctl steers site 2's agent, both through the relay; then site 1 pulls an image held
 * only at site 2 with every upstream down (site-image.ts). Returns what it measured; the
 * caller judges. Needs root, `npm run build` and `npm run bundle`.
 */
export async function runNatSites(): Promise<NatSitesReport> {
  for (const [file, make] of [
    [MESHD, 'npm run bundle'],
    [MESHCTL, 'npm run bundle'],
    [API_RELAY, 'npm run build'],
  ] as const)
    if (!existsSync(file)) throw new Error(`the NAT sites run uses ${file}: run \`${make}\` first`);
  const topo = new NatTopology(`nat${process.pid % 100_000}`);
  const root = await mkdtemp(join(tmpdir(), 'mycel-nat-'));
  const children: ChildProcess[] = [];
  const began = performance.now();
  let failed = false;
  const dataDir = (m: Member) => join(root, m);
  const socket = (m: Member) => join(root, `api-${m}.sock`);
  const api = async <T>(m: Member, path: string): Promise<T> => {
    const token = readFileSync(join(dataDir(m), API_TOKEN_FILE), 'utf8').trim();
    return JSON.parse(await agentRequest(socket(m), token, 'GET', path)) as T;
  };
  const meshctl = async (m: Member, args: string[], env: NodeJS.ProcessEnv = {}) =>
    run(
      'ip',
      [
        'netns',
        'exec',
        topo.ns(m),
        process.execPath,
        MESHCTL,
        '--api',
        `http://127.0.0.1:${API_PORT}`,
        ...args,
      ],
      { env: { ...process.env, ...env }, timeout: 60_000, maxBuffer: 64 * 1024 * 1024 },
    );
  try {
    topo.create();
    const directDialsRefused =
      !topo.canConnect('relay', NatTopology.routerWanIp(1), MESH_PORT) &&
      !topo.canConnect('relay', NatTopology.deviceIp(2), MESH_PORT) &&
      !topo.canConnect('site1', NatTopology.deviceIp(2), MESH_PORT);
    const meshDir = join(root, 'mesh');
    await run(process.execPath, [MESHCTL, 'mesh', 'init', '--dir', meshDir]);
    const bootstrap = `/ip4/${NatTopology.RELAY_IP}/tcp/${MESH_PORT}`;
    const token = (
      await run(process.execPath, [MESHCTL, 'mesh', 'join-token', '--dir', meshDir, '--bootstrap', bootstrap])
    ).stdout.trim();
    const start = (m: Member, extra: string[]) => {
      const out = openSync(join(root, `${m}.log`), 'a');
      children.push(
        spawn('ip', ['netns', 'exec', topo.ns(m), process.execPath, API_RELAY, socket(m), String(API_PORT)], {
          stdio: 'ignore',
        }),
      );
      // Liveness timings a third of the defaults: the run decides "unreachable" after one lost period.
      const args = [
        ...['netns', 'exec', topo.ns(m), process.execPath, MESHD, '--name', m, '--data-dir', dataDir(m)],
        ...[
          '--listen',
          `/ip4/0.0.0.0/tcp/${MESH_PORT}`,
          '--api',
          `127.0.0.1:${API_PORT}`,
          '--driver',
          'exec',
        ],
        ...['--log-level', process.env.SIM_AGENT_LOG_LEVEL ?? 'warn'],
        // Site 1 pulls through its loopback endpoint; the others serve peers without one.
        ...['--registry-listen', m === 'site1' ? REGISTRY_ENDPOINT : 'off'],
        ...['--heartbeat-interval-ms', '700', '--suspect-after-ms', '2100', '--lost-after-ms', '7000'],
        ...extra,
      ];
      children.push(
        spawn('ip', args, { stdio: ['ignore', out, out], env: { ...process.env, MESH_JOIN_TOKEN: token } }),
      );
    };
    const image = await seedImage(dataDir('site2'), LAYER_BYTES);
    start('relay', ['--relay', 'server']);
    start('site1', ['--label', 'site=1']);
    start('site2', ['--label', 'site=2']);

    const members: Member[] = ['relay', 'site1', 'site2'];
    const status = (m: Member) => api<AgentStatus>(m, '/v1/status');
    const settled = async () => {
      const all = await Promise.all(members.map((m) => status(m).catch(() => undefined)));
      return all.every(
        (s) =>
          s !== undefined &&
          s.peers.alive >= 2 &&
          s.reachability.status !== 'unknown' &&
          (s.reachability.relay !== 'client' || s.reachability.relayAddresses.length > 0),
      );
    };
    const formDeadline = performance.now() + 90_000;
    while (!(await settled())) {
      if (performance.now() > formDeadline) throw new Error(`the mesh did not form: see the logs in ${root}`);
      await sleep(500);
    }
    const meshFormedS = round((performance.now() - began) / 1000);
    progress(`mesh formed, every device's reachability known, after ${meshFormedS} s`);
    const [relayStatus, site1Status, site2Status] = (await Promise.all(members.map(status))) as [
      AgentStatus,
      AgentStatus,
      AgentStatus,
    ];

    const job = join(root, 'chatty.yaml');
    await writeFile(
      job,
      [
        'name: chatty',
        'driver: exec',
        'command: /bin/sh',
        `args: ["-c", "i=0; while [ $i -lt ${LOG_LINES} ]; do echo \\"site 2 line $i\\"; i=$((i+1)); done; exec sleep 100000"]`,
        'count: 1',
        'resources: { cpu: 10, memory: 4 }',
        'constraints:',
        '  - { attribute: label.site, operator: "=", value: "2" }',
        '',
      ].join('\n'),
    );
    await meshctl('site1', [
      '--data-dir',
      dataDir('site1'),
      '--operator-key',
      join(meshDir, 'operator.key'),
      'job',
      'run',
      job,
    ]);
    let allocId: string | undefined;
    const placeDeadline = performance.now() + 60_000;
    while (!allocId) {
      if (performance.now() > placeDeadline) throw new Error(`the job never ran at site 2: see ${root}`);
      const rows = await api<{ allocId: string; nodeName: string; state: string | null }[]>(
        'site1',
        '/v1/allocs',
      ).catch(() => []);
      allocId = rows.find((r) => r.nodeName === 'site2' && r.state === 'running')?.allocId;
      if (!allocId) await sleep(500);
    }
    // The copy prints its lines at start; give it a moment to finish.
    await sleep(2_000);

    const measure = async <T>(op: () => Promise<T>): Promise<{ value: T } & RelayedOperation> => {
      const q0 = topo.relayBytes();
      const t0 = performance.now();
      const value = await op();
      const ms = performance.now() - t0;
      const relayBytes = topo.relayBytes() - q0;
      const quiet0 = topo.relayBytes();
      await sleep(ms);
      return { value, ms: Math.round(ms), relayBytes, quietBytes: topo.relayBytes() - quiet0 };
    };

    const syncFailures = async () => {
      let failed = 0;
      for (const m of ['site1', 'site2'] as const) {
        const token = readFileSync(join(dataDir(m), API_TOKEN_FILE), 'utf8').trim();
        const text = await agentRequest(socket(m), token, 'GET', '/metrics');
        const line =
          /^mycel_state_sync_sessions_total\{[^}]*role="dialer"[^}]*outcome="failed"[^}]*\} (\d+)/m.exec(
            text,
          );
        failed += Number(line?.[1] ?? 0);
      }
      return failed;
    };
    const syncFailed0 = await syncFailures();
    const exec = await measure(async () => {
      const args = ['--data-dir', dataDir('site1'), '--operator-key', join(meshDir, 'operator.key')];
      const command = ['alloc', 'exec', allocId, '--', '/bin/sh', '-c', 'echo "on $MYCEL_NODE"; exit 5'];
      return meshctl('site1', [...args, ...command]).then(
        ({ stdout }) => ({ stdout, exitCode: 0 as number | undefined }),
        (err: { stdout?: string; code?: number }) => ({ stdout: err.stdout ?? '', exitCode: err.code }),
      );
    });
    progress(`alloc exec at site 1 of ${allocId} at site 2: exit ${exec.value.exitCode} in ${exec.ms} ms`);
    const logs = await measure(
      async () => (await meshctl('site1', ['--data-dir', dataDir('site1'), 'alloc', 'logs', allocId])).stdout,
    );
    const lines = logs.value.split('\n').filter(Boolean);
    progress(`alloc logs at site 1 of ${allocId} at site 2: ${lines.length} lines in ${logs.ms} ms`);
    const site1After = await status('site1');
    await sleep(3_000);
    const syncFailuresAroundRelay = (await syncFailures()) - syncFailed0;

    const relayed = site2Status.reachability.relayAddresses[0];
    if (!relayed) throw new Error('site 2 advertises no relayed address');
    const remoteToken = (
      await run(process.execPath, [
        MESHCTL,
        'mesh',
        'join-token',
        '--dir',
        meshDir,
        '--bootstrap',
        `${relayed.replace(/\/p2p\/[^/]+$/, '')}/p2p/${site2Status.peerId}`,
      ])
    ).stdout.trim();
    const remote = await measure(
      async () =>
        JSON.parse(
          (await meshctl('site1', ['--remote-token', remoteToken, '-o', 'json', 'status'])).stdout,
        ) as AgentStatus,
    );
    progress(`remote meshctl at site 1 steering site 2: ${remote.ms} ms`);

    const pulled = await measure(() => pullAtSite(topo.ns('site1'), REGISTRY_ENDPOINT, image, root));
    const relayKeptLayer = existsSync(
      join(dataDir('relay'), 'registry', 'blobs', 'sha256', image.layerDigest.slice('sha256:'.length)),
    );
    progress(
      `image held only at site 2 pulled at site 1, upstream down: ${pulled.value.bytes} B in ${pulled.ms} ms, ${pulled.relayBytes} B through the relay's interface`,
    );

    return {
      directDialsRefused,
      meshFormedS,
      reachability: {
        relay: relayStatus.reachability,
        site1: site1Status.reachability,
        site2: site2Status.reachability,
      },
      exec: { ms: exec.ms, relayBytes: exec.relayBytes, quietBytes: exec.quietBytes, ...exec.value },
      logs: {
        ms: logs.ms,
        relayBytes: logs.relayBytes,
        quietBytes: logs.quietBytes,
        lines: lines.length,
        lastLine: lines.at(-1) ?? '',
      },
      remoteStatus: {
        ms: remote.ms,
        relayBytes: remote.relayBytes,
        quietBytes: remote.quietBytes,
        peerId: remote.value.peerId,
        expected: site2Status.peerId,
      },
      site1RelayedConnections: site1After.reachability.relayedConnections,
      syncFailuresAroundRelay,
      fetchThrough: { ...pulled.value, ms: pulled.ms, relayBytes: pulled.relayBytes, relayKeptLayer },
    };
  } catch (err) {
    failed = true;
    progress(`failed; agent logs kept in ${root}`);
    throw err;
  } finally {
    for (const child of children) child.kill('SIGKILL');
    topo.destroy();
    if (!failed) await rm(root, { recursive: true, force: true }).catch(() => {});
  }
}
