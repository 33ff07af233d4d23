/**
 * bench:state: 30 simulated days of a fleet (1,000 nodes, 100 jobs) through the pure state API, as seen by one
 * observing agent that receives every gossip message. Each day: every job is redeployed once (its allocations
 * replaced: new ones pending → starting → running, old ones complete then removed), 5% of allocations crash and
 * restart, 3% of nodes reboot (a new Automerge actor, allocations restart), 1% of nodes leave for good (retired
 * by an operator a day later) and as many new ones join. At days 1, 7, 14 and 30 the observer's state is written
 * with the real StateStore and loaded cold in a child process: bytes on disk, load time, heap and RSS.
 * Prints one JSON object. `node dist/build/bench/state.js [days]`
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { actorFor, type GossipMessage, MeshState } from '../src/crdt/mesh-state.js';
import type { AllocStatus, NodeRecord } from '../src/crdt/records.js';
import { loadAutomerge } from '../src/node/setup/automerge-wasm.js';
import { StateStore } from '../src/node/state/state-store.js';
import { rng } from './rng.js';

const DAY = 86_400_000;

function record(peerId: string, boots: number): NodeRecord {
  return {
    peerId,
    name: `edge-${peerId.slice(-6)}`,
    labels: { zone: `zone-${peerId.length % 4}`, tier: 'edge' },
    arch: 'arm64',
    os: 'linux',
    cpu: 4000,
    memory: 2048,
    reserved: { cpu: 200, memory: 256 },
    drivers: ['docker', 'exec'],
    agentVersion: `0.1.${boots}`,
    addresses: [`/ip4/10.0.${peerId.length}.1/tcp/4001`, '/ip4/127.0.0.1/tcp/4001'],
  };
}

function jobSpec(name: string, version: number) {
  return {
    name,
    type: 'service',
    count: 10,
    driver: 'docker',
    image: `registry.local/${name}:${version}`,
    env: { LOG_LEVEL: 'info', RELEASE: String(version) },
    resources: { cpu: 100, memory: 64 },
    ports: [{ name: 'http', host: 8080, container: 80, protocol: 'tcp' }],
    constraints: [{ attribute: 'arch', operator: 'in', value: ['arm64', 'amd64'] }],
    restart: { attempts: 2, interval: 1_800_000, delay: 15_000, mode: 'fail' },
  };
}

interface SimNode {
  id: string;
  state: MeshState;
  boots: number;
  allocs: Map<string, AllocStatus>;
}

async function measureLoad(dir: string): Promise<unknown> {
  const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--load', dir], {
    encoding: 'utf8',
  });
  return JSON.parse(out);
}

async function loadOnly(dir: string): Promise<void> {
  await loadAutomerge();
  const before = process.memoryUsage();
  const started = performance.now();
  const state = new MeshState({ self: 'loader', actor: actorFor('loader', randomBytes(16)) });
  const { report } = await StateStore.open({ dataDir: dir }, state);
  const loadMs = performance.now() - started;
  const views = {
    jobs: state.jobs().length,
    nodes: state.nodes().length,
    allocations: state.allocations().length,
  };
  const after = process.memoryUsage();
  process.stdout.write(
    JSON.stringify({
      loadMs: Math.round(loadMs),
      documents: report.documents,
      ...views,
      rssMB: +(after.rss / 1e6).toFixed(1),
      heapUsedMB: +(after.heapUsed / 1e6).toFixed(1),
      rssGrowthMB: +((after.rss - before.rss) / 1e6).toFixed(1),
    }),
  );
}

async function simulate(days: number): Promise<void> {
  await loadAutomerge();
  const random = rng(42);
  const observer = new MeshState({ self: 'observer', actor: actorFor('observer', new Uint8Array([0])) });
  const counts = { gossipMessages: 0, gossipBytes: 0, changes: 0 };
  const publish = (messages: readonly GossipMessage[], now: number) => {
    for (const m of messages) {
      counts.gossipMessages++;
      counts.changes += m.changes.length;
      counts.gossipBytes += m.changes.reduce((n, c) => n + c.length, 0);
      const outcome = observer.applyGossip(m, now);
      if (outcome.kind === 'applied') publish(outcome.publish, now);
    }
  };
  let nextPeer = 0;
  const nodes: SimNode[] = [];
  const joinNode = (now: number) => {
    const id = `12D3KooW${String(nextPeer++).padStart(8, '0')}`;
    const node: SimNode = {
      id,
      state: new MeshState({ self: id, actor: actorFor(id, new Uint8Array([0])) }),
      boots: 0,
      allocs: new Map(),
    };
    publish(node.state.putNodeRecord(record(id, 0), now), now);
    nodes.push(node);
  };
  const transition = (node: SimNode, status: AllocStatus, now: number) => {
    node.allocs.set(status.allocId, status);
    publish(node.state.putAllocStatus(status, now), now);
  };
  for (let i = 0; i < 1000; i++) joinNode(0);
  const jobNames = Array.from({ length: 100 }, (_, i) => `app-${i}`);
  const placement = new Map<string, { node: SimNode; allocId: string }[]>();
  let retiring: string[] = [];
  const checkpoints: Record<string, unknown> = {};
  const started = performance.now();

  for (let day = 1; day <= days; day++) {
    const base = day * DAY;
    // Departed nodes from yesterday are retired by an operator (or a GC policy) today.
    for (const id of retiring) publish(observer.retireNode(id, 'op', base), base);
    retiring = [];
    for (const [j, name] of jobNames.entries()) {
      const now = base + j * 60_000;
      const { version, publish: out } = observer.submitJob(name, jobSpec(name, day), 'ci', now);
      publish(out, now);
      const old = placement.get(name) ?? [];
      const fresh: { node: SimNode; allocId: string }[] = [];
      for (let k = 0; k < 10; k++) {
        const node = nodes[Math.floor(random() * nodes.length)]!;
        const allocId = `${name}-v${version}-${k}`;
        const status: AllocStatus = {
          allocId,
          job: name,
          jobVersion: version,
          node: node.id,
          state: 'pending',
          health: 'unknown',
          startedAt: now,
          restarts: 0,
        };
        for (const state of ['pending', 'starting', 'running'] as const) {
          transition(
            node,
            { ...status, state, health: state === 'running' ? 'healthy' : 'unknown' },
            now + 1000,
          );
        }
        fresh.push({ node, allocId });
      }
      for (const { node, allocId } of old) {
        const status = node.allocs.get(allocId);
        if (!status || !nodes.includes(node)) continue;
        transition(node, { ...status, state: 'complete' }, now + 2000);
        node.allocs.delete(allocId);
        publish(node.state.removeAllocStatus(allocId, now + 3000), now + 3000);
      }
      placement.set(name, fresh);
    }
    // Crashes: 5% of allocations fail and restart.
    for (const node of nodes) {
      for (const status of [...node.allocs.values()]) {
        if (random() >= 0.05) continue;
        const now = base + 7_200_000;
        transition(node, { ...status, state: 'failed', lastError: 'exit code 137' }, now);
        transition(node, { ...status, state: 'running', restarts: status.restarts + 1 }, now + 15_000);
      }
    }
    // Reboots: 3% of nodes restart the agent with a new actor and restart their allocations.
    for (const node of nodes) {
      if (random() >= 0.03) continue;
      const now = base + 10_800_000;
      const restored = new MeshState({ self: node.id, actor: actorFor(node.id, randomBytes(16)) });
      const own = `node/${node.id}` as const;
      restored.restore(own, node.state.epochOf(own) ?? 0, node.state.save(own)!);
      node.state = restored;
      node.boots++;
      publish(node.state.putNodeRecord(record(node.id, node.boots), now), now);
      for (const status of [...node.allocs.values()]) {
        transition(node, { ...status, state: 'starting' }, now + 5000);
        transition(node, { ...status, state: 'running', startedAt: now + 6000 }, now + 6000);
      }
    }
    // Membership churn: 1% leave (retired tomorrow), as many join.
    for (let i = 0; i < 10; i++) {
      const [gone] = nodes.splice(Math.floor(random() * nodes.length), 1);
      if (gone) retiring.push(gone.id);
      joinNode(base + 14_400_000);
    }
    if ([1, 7, 14, 30].includes(day) || day === days) {
      const dir = mkdtempSync(join(tmpdir(), 'mycel-bench-state-'));
      const state = observer;
      // Write the observer's state through the real store, as a fresh snapshot.
      const writer = await StateStore.open({ dataDir: dir, snapshotAfterLogBytes: 0 }, state);
      await writer.store.flush();
      const files = readdirSync(join(dir, 'state'));
      const bytesOnDisk = files.reduce((n, f) => n + statSync(join(dir, 'state', f)).size, 0);
      const docs = state.summaries();
      const saves = docs.map((d) => state.save(d.docId)!.length);
      checkpoints[`day${day}`] = {
        bytesOnDisk,
        documents: docs.length,
        largestDocBytes: Math.max(...saves),
        jobDocBytes: docs
          .filter((d) => d.docId.startsWith('job/'))
          .reduce((n, d) => n + state.save(d.docId)!.length, 0),
        nodeDocBytes: docs
          .filter((d) => d.docId.startsWith('node/'))
          .reduce((n, d) => n + state.save(d.docId)!.length, 0),
        maxEpoch: Math.max(...docs.map((d) => d.epoch)),
        coldLoad: await measureLoad(dir),
        ...counts,
        simulatedMs: Math.round(performance.now() - started),
      };
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const jobs = observer.jobs();
  process.stdout.write(
    `${JSON.stringify(
      {
        bench: 'state',
        days,
        fleet: {
          nodes: observer.nodes().length,
          jobs: jobs.length,
          allocations: observer.allocations().length,
        },
        historyPerJob: Math.max(...jobs.map((j) => j.history.length)),
        checkpoints,
      },
      null,
      2,
    )}\n`,
  );
}

const args = process.argv.slice(2);
if (args[0] === '--load' && args[1]) await loadOnly(args[1]);
else await simulate(Number(args[0] ?? 30));
