import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPairFromSeed, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import { pino } from 'pino';
import { Agent } from '../../src/node/agent.js';
import { type AgentConfig, defaultConfig } from '../../src/node/config.js';
import { IDENTITY_FILE } from '../../src/node/identity.js';
import { SimDriver } from '../driver/sim-driver.js';
import { SimRuntime } from '../driver/sim-runtime.js';
import type { FaultNetwork } from './fault-network.js';
import { faultGater, faultTransport, hostPortOf } from './fault-transport.js';

/** Agent timings, already compressed: the scenario scales production values down. */
export interface FleetTimings {
  heartbeatIntervalMs: number;
  suspectAfterMs: number;
  lostAfterMs: number;
  syncIntervalMs: number;
  debounceMs: number;
  pollMs: number;
}

interface Slot {
  readonly name: string;
  readonly dataDir: string;
  /** Bumped by an IP change: the node's next address is on another loopback address. */
  addressGeneration: number;
  agent: Agent | undefined;
  peerId: string | undefined;
  /** The device was powered off at some point: its workloads died with it. */
  crashed: boolean;
}

/**
 * N real agents in this process, each on its own loopback address, every link through the fault network, every
 * workload in one SimRuntime. Node i listens on 127.<1+generation>.<i/250>.<1+i%250>: an IP change moves it to
 * the next generation's address, which nobody has heard of yet.
 */
export class Fleet {
  readonly runtime: SimRuntime;
  readonly network: FaultNetwork;
  readonly #timings: FleetTimings;
  readonly #slots: Slot[] = [];
  readonly #root: string;

  private constructor(network: FaultNetwork, timings: FleetTimings, root: string) {
    this.network = network;
    this.runtime = new SimRuntime(network.options.now);
    this.#timings = timings;
    this.#root = root;
  }

  static async create(network: FaultNetwork, timings: FleetTimings, size: number): Promise<Fleet> {
    const fleet = new Fleet(network, timings, await mkdtemp(join(tmpdir(), 'mycel-sim-')));
    for (let i = 0; i < size; i++) {
      const slot = {
        name: `n${i}`,
        dataDir: join(fleet.#root, `n${i}`),
        addressGeneration: 0,
        agent: undefined,
        peerId: undefined,
        crashed: false,
      };
      await writeSeededIdentity(slot.dataDir, slot.name);
      fleet.#slots.push(slot);
    }
    return fleet;
  }

  get names(): string[] {
    return this.#slots.map((s) => s.name);
  }

  /** Agents that are up now. */
  get running(): Agent[] {
    return this.#slots.flatMap((s) => (s.agent ? [s.agent] : []));
  }

  agent(name: string): Agent {
    const agent = this.#slot(name).agent;
    if (!agent) throw new Error(`${name} is not running`);
    return agent;
  }

  isUp(name: string): boolean {
    return this.#slot(name).agent !== undefined;
  }

  /** Peer ids of nodes that were never powered off: their workloads are the survivors. */
  survivors(): Set<string> {
    return new Set(this.#slots.filter((s) => !s.crashed && s.peerId).map((s) => s.peerId as string));
  }

  nameOf(peerId: string): string | undefined {
    return this.#slots.find((s) => s.peerId === peerId)?.name;
  }

  /** Starts every node, each joining the first node and two started before it (see start). */
  async startAll(concurrency = 8): Promise<void> {
    await this.start(this.#slots[0]?.name ?? 'n0');
    const rest = this.#slots.slice(1);
    for (let i = 0; i < rest.length; i += concurrency)
      await Promise.all(rest.slice(i, i + concurrency).map((s) => this.start(s.name)));
  }

  async start(name: string): Promise<Agent> {
    const slot = this.#slot(name);
    if (slot.agent) return slot.agent;
    const index = this.#slots.indexOf(slot);
    // The first node, the one before and one in between: a joiner of a large fleet must not depend on the first
    // alone, which stops accepting connections at maxConnections.
    const join = [this.#slots[0], this.#slots[index - 1], this.#slots[Math.floor(index / 2)]]
      .filter((s): s is Slot => s !== undefined && s !== slot && s.agent !== undefined)
      .map((s) => joinAddressOf(s.agent as Agent));
    const config: AgentConfig = {
      ...defaultConfig(),
      dataDir: slot.dataDir,
      name,
      listen: [`/ip4/${this.#ip(index, slot.addressGeneration)}/tcp/0`],
      api: '127.0.0.1:0',
      logLevel: 'silent',
      driver: 'exec',
      join: [...new Set(join)],
      heartbeatIntervalMs: this.#timings.heartbeatIntervalMs,
      suspectAfterMs: this.#timings.suspectAfterMs,
      lostAfterMs: this.#timings.lostAfterMs,
    };
    const agent = await Agent.start(config, {
      log: pino({ level: process.env.SIM_LOG_LEVEL ?? 'silent', base: { node: name } }),
      processMetrics: false,
      transport: faultTransport(this.network, name),
      connectionGater: faultGater(this.network, name),
      state: { syncIntervalMs: this.#timings.syncIntervalMs, sessionTimeoutMs: 10_000 },
      workloads: { debounceMs: this.#timings.debounceMs, pollMs: this.#timings.pollMs },
      makeDriver: (_driver, owner) => new SimDriver(this.runtime, owner),
    });
    agent.gossip.dropInbound = () => this.network.dropsMessage(name);
    agent.livenessExchange.dropInbound = () => this.network.dropsMessage(name);
    this.network.register(
      name,
      agent.peerId,
      agent.addresses().flatMap((a) => hostPortOf(a) ?? []),
    );
    slot.agent = agent;
    slot.peerId = agent.peerId;
    return agent;
  }

  /**
   * Power loss: the node vanishes from the network first (peers hear nothing more, not a polite goodbye),
   * then the agent stops and the device's workloads die with it.
   */
  async crash(name: string): Promise<void> {
    const slot = this.#slot(name);
    if (!slot.agent) return;
    this.network.setOffline(name, 'power', true);
    await slot.agent.stop();
    slot.agent = undefined;
    slot.crashed = true;
    if (slot.peerId) this.runtime.crash(slot.peerId);
    this.network.setOffline(name, 'power', false);
  }

  /**
   * The device's address changes: every connection it had breaks and it comes back on a new address. The
   * agent restarts to listen there (its workloads keep running, as containers do across an agent restart);
   * peers find it again through liveness digests and peer exchange, since their remembered address is dead.
   */
  async changeAddress(name: string): Promise<void> {
    const slot = this.#slot(name);
    if (!slot.agent) throw new Error(`${name} is not running`);
    this.network.setOffline(name, 'address-change', true);
    await slot.agent.stop();
    slot.agent = undefined;
    slot.addressGeneration++;
    this.network.setOffline(name, 'address-change', false);
    await this.start(name);
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.running.map((a) => a.stop()));
    for (const slot of this.#slots) slot.agent = undefined;
    await rm(this.#root, { recursive: true, force: true });
  }

  #ip(index: number, generation: number): string {
    return `127.${1 + generation}.${Math.floor(index / 250)}.${1 + (index % 250)}`;
  }

  #slot(name: string): Slot {
    const slot = this.#slots.find((s) => s.name === name);
    if (!slot) throw new Error(`no node named ${name}`);
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
async function writeSeededIdentity(dataDir: string, name: string): Promise<void> {
  const seed = createHash('sha256').update(`mycel-sim/${name}`).digest();
  const key = await generateKeyPairFromSeed('Ed25519', seed);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  await writeFile(join(dataDir, IDENTITY_FILE), privateKeyToProtobuf(key), { mode: 0o600 });
}
