import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import type { RuntimeEvent, Workload } from '../driver/sim-runtime.js';
import type { TrafficCounters } from './fault-network.js';
import { type FleetTimings, seededIdentity, simIp } from './fleet.js';
import type {
  AgentCensus,
  AgentDiagnosis,
  NetworkChange,
  ShardApi,
  ShardInit,
  ShardRequest,
  ShardResponse,
} from './shard-api.js';

/**
 * Fifty agents allocate fast and briefly (every message, frame and view): with V8's default young generation
 * scavenges ran back to back and promoted garbage to the old generation, and the GC helper threads took as much
 * CPU as the agents themselves (100 agents: 4 × 57 s against 2 × 122 s).
 */
const SHARD_HEAP = { maxYoungGenerationSizeMb: 128 };

/** A shard that does not answer this long is stuck: the call fails and names itself. */
const CALL_TIMEOUT_MS = 120_000;

interface Node {
  readonly name: string;
  readonly index: number;
  readonly shard: Shard;
  readonly peerId: string;
  generation: number;
  /** Its TCP address while it is up (what joiners dial). */
  address: string | undefined;
  /** The device was powered off at some point: its workloads died with it. */
  crashed: boolean;
}

type Pending = { resolve: (value: unknown) => void; reject: (err: Error) => void; timer: NodeJS.Timeout };

/** One worker thread and the calls waiting on it. */
class Shard {
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #failed: Error | undefined;

  constructor(worker: Worker, ready: Pending) {
    this.#worker = worker;
    this.#pending.set(0, ready);
    worker.on('message', (response: ShardResponse) => {
      const pending = this.#pending.get(response.id);
      if (!pending) return;
      this.#pending.delete(response.id);
      clearTimeout(pending.timer);
      if (response.ok) pending.resolve(response.value);
      else pending.reject(new Error(response.error));
    });
    worker.on('error', (err) => this.#fail(err));
    worker.on('exit', (code) => this.#fail(new Error(`shard exited with code ${code}`)));
  }

  call<M extends keyof ShardApi>(
    method: M,
    ...args: Parameters<ShardApi[M]>
  ): Promise<Awaited<ReturnType<ShardApi[M]>>> {
    if (this.#failed) return Promise.reject(this.#failed);
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`shard call ${method}: no answer within ${CALL_TIMEOUT_MS} ms`));
      }, CALL_TIMEOUT_MS);
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject, timer });
      this.#worker.postMessage({ id, method, args } satisfies ShardRequest);
    });
  }

  terminate(): Promise<number> {
    this.#failed ??= new Error('shard terminated');
    return this.#worker.terminate();
  }

  #fail(err: Error): void {
    this.#failed ??= err;
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(err);
    }
    this.#pending.clear();
  }
}

/** The compiled worker: beside this file when it runs from dist/, under dist/ when vitest runs the sources. */
function workerUrl(): URL {
  const fromSources = import.meta.url.endsWith('.ts');
  const url = new URL(
    fromSources ? '../../dist/build/sim/fault/shard-worker.js' : './shard-worker.js',
    import.meta.url,
  );
  if (!existsSync(fileURLToPath(url)))
    throw new Error(`${fileURLToPath(url)} is missing: run npm run build first`);
  return url;
}

export interface ShardedFleetOptions {
  readonly nodes: number;
  readonly shards: number;
  readonly timings: FleetTimings;
  readonly tcpTimeoutMs: number;
  readonly seed: number;
}

/**
 * The simulated fleet, spread over worker threads so that one process uses every core: node n<i> lives in shard
 * i mod shards. This side decides who joins whom and orchestrates crashes and IP changes; every change to the
 * fault network goes to every shard, each of which shapes the links its own agents dialled.
 */
export class ShardedFleet {
  readonly #nodes: Node[];
  readonly #shards: Shard[];
  readonly #root: string;

  private constructor(nodes: Node[], shards: Shard[], root: string) {
    this.#nodes = nodes;
    this.#shards = shards;
    this.#root = root;
  }

  static async create(options: ShardedFleetOptions): Promise<ShardedFleet> {
    const root = await mkdtemp(join(tmpdir(), 'mycel-sim-'));
    const book = await Promise.all(
      Array.from({ length: options.nodes }, async (_, index) => ({
        name: `n${index}`,
        index,
        peerId: peerIdFromPrivateKey(await seededIdentity(`n${index}`)).toString(),
        ip: simIp(index, 0),
      })),
    );
    const count = Math.max(1, Math.min(options.shards, options.nodes));
    const url = workerUrl();
    const shards: Shard[] = [];
    const ready: Promise<unknown>[] = [];
    for (let s = 0; s < count; s++) {
      const init: ShardInit = {
        nodes: book.filter((n) => n.index % count === s).map(({ name, index }) => ({ name, index })),
        book: book.map(({ name, peerId, ip }) => ({ name, peerId, ip })),
        timings: options.timings,
        tcpTimeoutMs: options.tcpTimeoutMs,
        seed: options.seed + s,
        root,
        timeOrigin: performance.timeOrigin,
      };
      ready.push(
        new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('a shard did not start')), CALL_TIMEOUT_MS);
          shards.push(
            new Shard(new Worker(url, { workerData: init, resourceLimits: SHARD_HEAP }), {
              resolve,
              reject,
              timer,
            }),
          );
        }),
      );
    }
    const fleet = new ShardedFleet(
      book.map((n) => ({
        ...n,
        shard: shards[n.index % count] as Shard,
        generation: 0,
        address: undefined,
        crashed: false,
      })),
      shards,
      root,
    );
    try {
      await Promise.all(ready);
    } catch (err) {
      await fleet.stop();
      throw err;
    }
    return fleet;
  }

  get names(): string[] {
    return this.#nodes.map((n) => n.name);
  }

  get shardCount(): number {
    return this.#shards.length;
  }

  isUp(name: string): boolean {
    return this.#node(name).address !== undefined;
  }

  /** Peer ids of nodes that were never powered off: their workloads are the survivors. */
  survivors(): Set<string> {
    return new Set(this.#nodes.filter((n) => !n.crashed).map((n) => n.peerId));
  }

  nameOf(peerId: string): string | undefined {
    return this.#nodes.find((n) => n.peerId === peerId)?.name;
  }

  /**
   * Starts every node, each joining through the first (see start), `concurrency` at a time; `started` hears the
   * count after each batch.
   */
  async startAll(started: (count: number) => void = () => {}, concurrency = 8): Promise<void> {
    const [first, ...rest] = this.#nodes;
    if (first) await this.start(first.name);
    for (let i = 0; i < rest.length; i += concurrency) {
      await Promise.all(rest.slice(i, i + concurrency).map((n) => this.start(n.name)));
      started(1 + Math.min(rest.length, i + concurrency));
    }
  }

  async start(name: string): Promise<void> {
    const node = this.#node(name);
    if (node.address) return;
    // One bootstrap address for the whole fleet, as devices flashed with one join token have: past its
    // maxConnections the first node introduces joiners to others instead of taking them (introductions.ts).
    const first = this.#nodes[0];
    const join = first && first !== node && first.address ? [first.address] : [];
    node.address = await node.shard.call('start', name, node.generation, join);
  }

  /**
   * Power loss: the node vanishes from the network first, in every shard (peers hear nothing more, not a polite
   * goodbye), then the agent stops and the device's workloads die with it.
   */
  async crash(name: string): Promise<void> {
    const node = this.#node(name);
    if (!node.address) return;
    await this.network({ kind: 'offline', name, reason: 'power', offline: true });
    await node.shard.call('stop', name, true);
    node.address = undefined;
    node.crashed = true;
    await this.network({ kind: 'offline', name, reason: 'power', offline: false });
  }

  /**
   * The device's address changes: every connection it had breaks and it comes back on a new address. The
   * agent restarts to listen there (its workloads keep running, as containers do across an agent restart);
   * peers find it again through liveness digests and peer exchange, since their remembered address is dead.
   */
  async changeAddress(name: string): Promise<void> {
    const node = this.#node(name);
    if (!node.address) throw new Error(`${name} is not running`);
    await this.network({ kind: 'offline', name, reason: 'address-change', offline: true });
    await node.shard.call('stop', name, false);
    node.address = undefined;
    node.generation++;
    await this.network({
      kind: 'register',
      name,
      peerId: node.peerId,
      ip: simIp(node.index, node.generation),
    });
    await this.network({ kind: 'offline', name, reason: 'address-change', offline: false });
    await this.start(name);
  }

  /** Applies a change to the fault network in every shard; resolves once all have it. */
  async network(change: NetworkChange): Promise<void> {
    await this.#all('network', change);
  }

  submit(on: string, job: string, count: number): Promise<string> {
    return this.#node(on).shard.call('submit', on, job, count);
  }

  /** Per running agent, in no particular order: what it hears and holds. */
  async census(): Promise<AgentCensus[]> {
    return (await this.#all('census')).flat();
  }

  async copies(): Promise<Map<string, number>> {
    const copies = new Map<string, number>();
    for (const part of await this.#all('copies'))
      for (const [job, n] of part) copies.set(job, (copies.get(job) ?? 0) + n);
    return copies;
  }

  async placements(): Promise<string[]> {
    return (await this.#all('placements')).flat();
  }

  async stateDigests(): Promise<string[]> {
    return (await this.#all('stateDigests')).flat();
  }

  /** Of `jobs`, those some running agent does not know, or knows as stopped. */
  async unknownJobs(jobs: readonly string[]): Promise<string[]> {
    const unknown = new Set((await this.#all('unknownJobs', [...jobs])).flat());
    return jobs.filter((j) => unknown.has(j));
  }

  async runtime(): Promise<{ all: Workload[]; events: RuntimeEvent[] }> {
    const parts = await this.#all('runtime');
    return {
      all: parts.flatMap((p) => p.all),
      events: parts.flatMap((p) => p.events).sort((a, b) => a.at - b.at),
    };
  }

  /** The fleet's traffic so far, over every node and shard (a link is counted in its dialler's shard). */
  async traffic(): Promise<{ messagesIn: number; messagesDropped: number; bytesOut: number }> {
    const all = (await this.#all('counters')).flatMap((part) => part.map(([, c]) => c));
    const sum = (pick: (c: TrafficCounters) => number) => all.reduce((s, c) => s + pick(c), 0);
    return {
      messagesIn: sum((c) => c.messagesReceived),
      messagesDropped: sum((c) => c.messagesDropped),
      bytesOut: sum((c) => c.bytesSent),
    };
  }

  async diagnose(): Promise<AgentDiagnosis[]> {
    return (await this.#all('diagnose')).flat();
  }

  /**
   * Stops every agent (for at most `graceMs`: a saturated shard may not get there, and the run's report must not
   * wait on it), ends the shards and removes the fleet's data.
   */
  async stop(graceMs = 30_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled(this.#shards.map((s) => s.call('stopAll'))),
      new Promise((resolve) => {
        timer = setTimeout(resolve, graceMs);
      }),
    ]);
    clearTimeout(timer);
    await Promise.all(this.#shards.map((s) => s.terminate()));
    for (const node of this.#nodes) node.address = undefined;
    await rm(this.#root, { recursive: true, force: true });
  }

  #all<M extends keyof ShardApi>(
    method: M,
    ...args: Parameters<ShardApi[M]>
  ): Promise<Awaited<ReturnType<ShardApi[M]>>[]> {
    return Promise.all(this.#shards.map((s) => s.call(method, ...args)));
  }

  #node(name: string): Node {
    const node = this.#nodes.find((n) => n.name === name);
    if (!node) throw new Error(`no node named ${name}`);
    return node;
  }
}
