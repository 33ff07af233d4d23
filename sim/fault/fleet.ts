import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateKeyPairFromSeed, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import type { PrivateKey } from '@libp2p/interface';
import { pino } from 'pino';
import { Agent } from '../../src/node/agent.js';
import { IDENTITY_FILE } from '../../src/node/membership/identity.js';
import { type AgentConfig, defaultConfig } from '../../src/node/setup/config.js';
import { SimDriver } from '../driver/sim-driver.js';
import { SimRuntime } from '../driver/sim-runtime.js';
import type { FaultNetwork } from './fault-network.js';
import { faultGater, faultTransport } from './fault-transport.js';

/** Agent timings, already compressed: the scenario scales production values down. */
export interface FleetTimings {
  heartbeatIntervalMs: number;
  suspectAfterMs: number;
  lostAfterMs: number;
  syncIntervalMs: number;
  debounceMs: number;
  pollMs: number;
}

/** A node of the fleet: its name and its place in the whole fleet (which fixes its addresses). */
export interface FleetNode {
  readonly name: string;
  readonly index: number;
}

interface Slot extends FleetNode {
  readonly dataDir: string;
  agent: Agent | undefined;
}

/** Node i listens on 127.<1+generation>.<i/250>.<1+i%250>: an IP change moves it to the next generation. */
export function simIp(index: number, generation: number): string {
  return `127.${1 + generation}.${Math.floor(index / 250)}.${1 + (index % 250)}`;
}

/**
 * The agents of one shard of the fleet, in this thread, each on its own loopback address, every link through the
 * fault network, every workload in one SimRuntime. The fleet's runner decides who joins whom and when a node
 * crashes or moves, and tells every shard's fault network (sharded-fleet.ts).
 */
export class Fleet {
  readonly runtime: SimRuntime;
  readonly network: FaultNetwork;
  readonly #timings: FleetTimings;
  readonly #slots = new Map<string, Slot>();

  private constructor(network: FaultNetwork, timings: FleetTimings) {
    this.network = network;
    this.runtime = new SimRuntime(network.options.now);
    this.#timings = timings;
  }

  /** `root` is the fleet's directory; each node keeps its data dir (and its seeded identity) under it. */
  static async create(
    network: FaultNetwork,
    timings: FleetTimings,
    nodes: readonly FleetNode[],
    root: string,
  ): Promise<Fleet> {
    const fleet = new Fleet(network, timings);
    for (const node of nodes) {
      const slot = { ...node, dataDir: join(root, node.name), agent: undefined };
      await writeSeededIdentity(slot.dataDir, slot.name);
      fleet.#slots.set(node.name, slot);
    }
    return fleet;
  }

  /** Agents that are up now. */
  get running(): Agent[] {
    return [...this.#slots.values()].flatMap((s) => (s.agent ? [s.agent] : []));
  }

  agent(name: string): Agent {
    const agent = this.#slot(name).agent;
    if (!agent) throw new Error(`${name} is not running`);
    return agent;
  }

  /** Starts `name` on its address of `generation`, joining `join`; returns its TCP address. */
  async start(name: string, generation: number, join: readonly string[]): Promise<string> {
    const slot = this.#slot(name);
    if (slot.agent) return joinAddressOf(slot.agent);
    const config: AgentConfig = {
      ...defaultConfig(),
      dataDir: slot.dataDir,
      name,
      listen: [`/ip4/${simIp(slot.index, generation)}/tcp/0`],
      api: '127.0.0.1:0',
      logLevel: 'silent',
      driver: 'exec',
      join: [...join],
      heartbeatIntervalMs: this.#timings.heartbeatIntervalMs,
      suspectAfterMs: this.#timings.suspectAfterMs,
      lostAfterMs: this.#timings.lostAfterMs,
    };
    const agent = await Agent.start(config, {
      // stderr: stdout carries the run's one JSON report.
      log: pino({ level: process.env.SIM_LOG_LEVEL ?? 'silent', base: { node: name } }, pino.destination(2)),
      processMetrics: false,
      transport: faultTransport(this.network, name),
      connectionGater: faultGater(this.network, name),
      state: { syncIntervalMs: this.#timings.syncIntervalMs, sessionTimeoutMs: 10_000 },
      workloads: { debounceMs: this.#timings.debounceMs, pollMs: this.#timings.pollMs },
      makeDriver: (_driver, owner) => new SimDriver(this.runtime, owner),
    });
    agent.gossip.dropInbound = () => this.network.dropsMessage(name);
    agent.livenessExchange.dropInbound = () => this.network.dropsMessage(name);
    slot.agent = agent;
    return joinAddressOf(agent);
  }

  /**
   * Stops `name`'s agent. `crash`: the device lost power, and its workloads died with it; otherwise they keep
   * running, as containers do across an agent restart. The runner takes the node off the network first, in every
   * shard, so that peers hear nothing more rather than a polite goodbye.
   */
  async stop(name: string, crash: boolean): Promise<void> {
    const slot = this.#slot(name);
    if (!slot.agent) return;
    const { peerId } = slot.agent;
    await slot.agent.stop();
    slot.agent = undefined;
    if (crash) this.runtime.crash(peerId);
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.running.map((a) => a.stop()));
    for (const slot of this.#slots.values()) slot.agent = undefined;
  }

  #slot(name: string): Slot {
    const slot = this.#slots.get(name);
    if (!slot) throw new Error(`no node named ${name} in this shard`);
    return slot;
  }
}

function joinAddressOf(agent: Agent): string {
  const address = agent.addresses().find((a) => a.includes('/tcp/'));
  if (!address) throw new Error(`${agent.config.name} has no TCP address`);
  return address;
}

/**
 * Node n<i> has the same identity in every run: placement ranks nodes by hashes of their peer ids, so with
 * random keys a scenario's faults would hit a node holding different work each run (sometimes none at all).
 */
export function seededIdentity(name: string): Promise<PrivateKey> {
  return generateKeyPairFromSeed('Ed25519', createHash('sha256').update(`mycel-sim/${name}`).digest());
}

async function writeSeededIdentity(dataDir: string, name: string): Promise<void> {
  const key = await seededIdentity(name);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  await writeFile(join(dataDir, IDENTITY_FILE), privateKeyToProtobuf(key), { mode: 0o600 });
}
