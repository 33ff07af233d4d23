/**
 * A mesh of real `dist/meshd.mjs` processes on loopback, for tests that must kill an agent with SIGKILL and
 * start it again on the same data dir. Each agent binds port 0 for both libp2p and its control API; the API's
 * address is read from the agent's log line "control API listening", again after every restart.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { waitFor } from './agents.js';
import { exited, spawnMeshd } from './processes.js';

export interface MeshdAgent {
  readonly name: string;
  readonly dataDir: string;
  readonly peerId: string;
  /** Control API base URL of the running process; changes when the agent restarts. */
  api: string;
  child: ReturnType<typeof spawnMeshd>;
}

export interface MeshdOptions {
  readonly driver: 'docker' | 'exec' | 'auto' | 'none';
  /** Liveness timings, as meshd's flags. */
  readonly heartbeatIntervalMs: number;
  readonly suspectAfterMs: number;
  readonly lostAfterMs: number;
  /** The loopback address each agent's libp2p listens on (127.0.0.1 without): its address in the catalog. */
  readonly listenHost?: (name: string) => string;
  /** More meshd flags for one agent. */
  readonly extraArgs?: (name: string) => string[];
}

function argsOf(
  name: string,
  dataDir: string,
  joinAddresses: readonly string[],
  options: MeshdOptions,
): string[] {
  return [
    '--name',
    name,
    '--data-dir',
    dataDir,
    '--listen',
    `/ip4/${options.listenHost?.(name) ?? '127.0.0.1'}/tcp/0`,
    '--api',
    '127.0.0.1:0',
    '--driver',
    options.driver,
    '--heartbeat-interval-ms',
    String(options.heartbeatIntervalMs),
    '--suspect-after-ms',
    String(options.suspectAfterMs),
    '--lost-after-ms',
    String(options.lostAfterMs),
    ...joinAddresses.flatMap((address) => ['--join', address]),
    ...(options.extraArgs?.(name) ?? []),
  ];
}

/** The bearer token meshd wrote into its data dir at first start. */
async function authorization(agent: Pick<MeshdAgent, 'dataDir'>): Promise<Record<string, string>> {
  const token = (await readFile(join(agent.dataDir, 'api.token'), 'utf8')).trim();
  return { authorization: `Bearer ${token}` };
}

export async function apiGet<T>(agent: Pick<MeshdAgent, 'api' | 'dataDir'>, path: string): Promise<T> {
  const res = await fetch(`${agent.api}${path}`, {
    headers: await authorization(agent),
    signal: AbortSignal.timeout(5_000),
  });
  if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

export async function apiPost<T>(
  agent: Pick<MeshdAgent, 'api' | 'dataDir'>,
  path: string,
  body: unknown,
): Promise<T> {
  const res = await fetch(`${agent.api}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(await authorization(agent)) },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(5_000),
  });
  if (!res.ok) throw new Error(`POST ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** Spawns meshd and waits for its control API; fails with the agent's output if it exits first. */
async function spawnUntilServing(
  name: string,
  args: string[],
): Promise<{ child: MeshdAgent['child']; api: string }> {
  const child = spawnMeshd(args);
  let api = '';
  await waitFor(
    `${name}'s control API`,
    () => {
      if (child.exitCode !== null) throw new Error(`${name} exited (${child.exitCode}): ${child.output()}`);
      api = /"api":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(child.output())?.[1] ?? '';
      return api !== '';
    },
    30_000,
    () => child.output(),
  );
  return { child, api };
}

/** Starts one agent in `<root>/<name>`, joining through `join`. */
export async function startMeshd(
  root: string,
  name: string,
  joinAddresses: readonly string[],
  options: MeshdOptions,
): Promise<MeshdAgent & { address: string }> {
  const dataDir = join(root, name);
  await mkdir(dataDir, { recursive: true });
  const { child, api } = await spawnUntilServing(name, argsOf(name, dataDir, joinAddresses, options));
  const status = await apiGet<{ peerId: string; addresses: string[] }>({ api, dataDir }, '/v1/status');
  const address = status.addresses.find((a) => a.includes('/tcp/'));
  if (!address) throw new Error(`${name} has no TCP address`);
  return { name, dataDir, peerId: status.peerId, api, child, address };
}

/**
 * A mesh of one agent per name, every one joined through the first, each seeing the others alive and holding
 * their node records (so every agent places with the same view from the first job on). If any agent fails to
 * start, the ones already started are stopped before the error is thrown.
 */
export async function startMeshdMesh(
  root: string,
  names: readonly string[],
  options: MeshdOptions,
): Promise<{ agents: MeshdAgent[]; bootstrap: string }> {
  const [firstName, ...rest] = names;
  if (firstName === undefined) throw new Error('a mesh needs at least one agent');
  const first = await startMeshd(root, firstName, [], options);
  const agents: MeshdAgent[] = [first];
  try {
    const others = await Promise.allSettled(
      rest.map((name) => startMeshd(root, name, [first.address], options)),
    );
    for (const o of others) if (o.status === 'fulfilled') agents.push(o.value);
    const failed = others.find((o) => o.status === 'rejected');
    if (failed) throw failed.reason;
    await waitFor(
      'every agent to see the others alive and hold their node records',
      async () => {
        const views = await Promise.all(
          agents.map(async (a) => ({
            alive: (await apiGet<{ peers: { alive: number } }>(a, '/v1/status')).peers.alive,
            nodes: (await apiGet<unknown[]>(a, '/v1/nodes')).length,
          })),
        );
        return views.every((v) => v.alive === agents.length - 1 && v.nodes === agents.length);
      },
      30_000,
    );
  } catch (err) {
    await Promise.all(agents.map(stopMeshd));
    throw err;
  }
  return { agents, bootstrap: first.address };
}

/** SIGKILL: no shutdown code runs, as when a device loses power. */
export async function killHard(agent: MeshdAgent): Promise<void> {
  agent.child.kill('SIGKILL');
  await exited(agent.child);
}

/** Starts the agent again on its data dir (same identity, same replica), joining through `join`. */
export async function restartMeshd(
  agent: MeshdAgent,
  joinAddresses: readonly string[],
  options: MeshdOptions,
): Promise<void> {
  const args = argsOf(agent.name, agent.dataDir, joinAddresses, options);
  const { child, api } = await spawnUntilServing(agent.name, args);
  agent.child = child;
  agent.api = api;
}

/** SIGTERM, and SIGKILL if the agent has not exited within its own 10 s shutdown deadline. */
export async function stopMeshd(agent: MeshdAgent): Promise<void> {
  if (agent.child.exitCode !== null || agent.child.signalCode !== null) return;
  agent.child.kill('SIGTERM');
  const timer = setTimeout(() => agent.child.kill('SIGKILL'), 12_000);
  await exited(agent.child);
  clearTimeout(timer);
}
