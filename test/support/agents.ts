import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Agent, type AgentEnvironment } from '../../src/node/agent.js';
import { encodeJoinToken } from '../../src/node/membership/join-token.js';
import { type AgentConfig, defaultConfig } from '../../src/node/setup/config.js';
import { type TestKey, testKey } from './keys.js';

/**
 * Liveness times short enough for tests yet long enough that a busy 2-core CI machine (two test files in
 * parallel, Docker, many agents) does not flap peers to suspect.
 */
export const FAST_LIVENESS = { heartbeatIntervalMs: 250, suspectAfterMs: 1_250, lostAfterMs: 3_000 } as const;

export async function tempDir(
  prefix = 'mycel-test-',
): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, cleanup: () => rm(path, { recursive: true, force: true }) };
}

export function testConfig(overrides: Partial<AgentConfig> & { dataDir: string }): AgentConfig {
  return {
    ...defaultConfig(),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    api: '127.0.0.1:0',
    logLevel: 'silent',
    // Mesh and state tests run no workloads; tests of workloads ask for a driver.
    driver: 'none',
    ...FAST_LIVENESS,
    ...overrides,
  };
}

/** Tests that run workloads want placement and the reconciler to react within tens of milliseconds. */
export const FAST_WORKLOADS = {
  state: { syncIntervalMs: 1_000 },
  workloads: { debounceMs: 50, pollMs: 200 },
} as const satisfies Partial<AgentEnvironment>;

export function startAgent(config: AgentConfig, env: Partial<AgentEnvironment> = {}): Promise<Agent> {
  return Agent.start(config, {
    log: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent', base: { node: config.name } }),
    processMetrics: false,
    ...env,
  });
}

/** The agent's first TCP address with its peer id: what an operator passes to --join. */
export function joinAddress(agent: Agent): string {
  const address = agent.addresses().find((a) => a.includes('/tcp/'));
  if (!address) throw new Error('agent has no TCP address');
  return address;
}

/** Polls until `check` returns true; fails with `what` and, if given, `describe()` of the state then. */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 15_000,
  describe?: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${describe ? `: ${describe()}` : ''}`);
}

/** Every agent holds every agent's node record and hears all the others alive. */
export function meshFormed(agents: readonly Agent[]): boolean {
  return agents.every(
    (a) =>
      a.state.state.nodes().length === agents.length &&
      a.peers().filter((p) => p.liveness === 'alive').length === agents.length - 1,
  );
}

export function livenessOf(observer: Agent, peerId: string): string | undefined {
  return observer.peers().find((p) => p.peerId === peerId)?.liveness;
}

/** A closed mesh for tests: its key, an operator, and join tokens that bootstrap through given agents. */
export interface TestMesh {
  readonly psk: Uint8Array;
  readonly operator: TestKey;
  /** The token a device is flashed with; pass it as `testConfig({ joinToken })`. */
  joinToken(bootstrap?: readonly Agent[]): string;
}

export async function testMesh(): Promise<TestMesh> {
  const psk = new Uint8Array(randomBytes(32));
  const operator = await testKey();
  return {
    psk,
    operator,
    joinToken: (bootstrap = []) =>
      encodeJoinToken({ psk, operators: [operator.id], bootstrap: bootstrap.map(joinAddress) }),
  };
}
