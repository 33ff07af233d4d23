/**
 * One shard of the simulated fleet: a worker thread that carries some of the agents and a replica of the fault
 * network, and answers the runner's calls (shard-api.ts). Started by sharded-fleet.ts, never by hand.
 */
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import { canonicalJson } from '../../src/crdt/canonical-json.js';
import { STATE_TOPIC } from '../../src/crdt/gossip-codec.js';
import { parseJobFile } from '../../src/crdt/job-file.js';
import type { JobSpec } from '../../src/crdt/job-spec.js';
import type { Agent } from '../../src/node/agent.js';
import { meshPeers } from '../../src/node/net/pubsub.js';
import { prng } from '../scale/prng.js';
import { FaultNetwork } from './fault-network.js';
import { Fleet } from './fleet.js';
import type {
  AgentDiagnosis,
  NetworkChange,
  ShardApi,
  ShardInit,
  ShardRequest,
  ShardResponse,
} from './shard-api.js';

function simJob(name: string, count: number): JobSpec {
  const parsed = parseJobFile(
    [
      `name: ${name}`,
      'driver: exec',
      'command: /bin/true',
      `count: ${count}`,
      'resources: { cpu: 10, memory: 4 }',
    ].join('\n'),
  );
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.spec;
}

/** An agent's desired placement, comparable across agents. */
function placementOf(agent: Agent): string {
  return agent.workloads.placement
    .allocs()
    .filter((r) => r.desired === 'run' || r.desired === 'unknown')
    .map((r) => `${r.allocId}@${r.node}`)
    .join(',');
}

function applyChange(network: FaultNetwork, change: NetworkChange): void {
  if (change.kind === 'partition') network.partition(change.groups);
  else if (change.kind === 'heal') network.heal();
  else if (change.kind === 'set') network.set(change.from, change.to, change.change, change.both);
  else if (change.kind === 'defaults') network.setDefaults(change.change);
  else if (change.kind === 'offline') network.setOffline(change.name, change.reason, change.offline);
  else if (change.kind === 'loss') network.setLoss(change.fraction, change.name);
  else network.register(change.name, change.peerId, change.ip);
}

function diagnoseAgent(agent: Agent, name: (peerId: string) => string): AgentDiagnosis {
  const short = (allocId: string) => allocId.split('.').slice(1, 3).join('.');
  const rows = agent.workloads.placement.allocs();
  const placement: Record<string, string> = {};
  for (const job of new Set(rows.map((r) => r.job)))
    placement[job] = agent.workloads.placement
      .allocs(job)
      .map((r) => `${short(r.allocId)}@${name(r.node)}:${r.desired}`)
      .join(' ');
  const statuses = agent.state.state.allocations();
  const now = Date.now();
  return {
    name: agent.config.name,
    placement,
    wanted: rows
      .filter((r) => r.desired === 'run')
      .map((r) => ({
        allocId: r.allocId,
        node: name(r.node),
        replicated: statuses.find((s) => s.allocId === r.allocId),
      })),
    ownEvents: Object.fromEntries(
      rows
        .filter((r) => r.node === agent.peerId)
        .map((r) => [r.allocId, agent.workloads.reconciler.events(r.allocId)]),
    ),
    liveness: agent
      .peers()
      .map((p) => `${p.name}:${p.liveness}`)
      .join(' '),
    views: Object.fromEntries(
      agent.state.state.summaries().map((d) => [
        d.docId,
        `${d.epoch}:${[...d.heads]
          .sort()
          .map((h) => h.slice(0, 8))
          .join(',')}`,
      ]),
    ),
    links: agent.host
      .getConnections()
      .map((c) => `${name(c.remotePeer.toString())}:${c.status}`)
      .join(' '),
    // Anti-entropy is what repairs a document gossip missed: its latest failures, and changes still waiting.
    sync: {
      missingDeps: agent.state.state.missingDeps().length,
      // Gossip reaches a peer only through the topic mesh (or lazily through IHAVE): who is in it, who is known.
      gossipMesh: meshPeers(agent.host.services.pubsub, STATE_TOPIC).map(name).join(' '),
      gossipSubscribers: agent.host.services.pubsub
        .getSubscribers(STATE_TOPIC)
        .map((p) => name(p.toString()))
        .join(' '),
      active: agent.state
        .activeSyncs()
        .map((s) => `${s.role} ${name(s.peer)} ${(s.ageMs / 1000).toFixed(1)}s`),
      failures: agent.state
        .recentSyncFailures()
        .map((f) => `${f.role} ${name(f.peer)} ${((now - f.at) / 1000).toFixed(1)}s ago: ${f.error}`),
    },
  };
}

async function serve(init: ShardInit): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error('shard-worker runs as a worker thread of sharded-fleet.ts');
  // Times on the runner's clock, so that its ledger and the shards' runtime events compare.
  const now = () => performance.timeOrigin + performance.now() - init.timeOrigin;
  const network = new FaultNetwork({ now, random: prng(init.seed).next, tcpTimeoutMs: init.tcpTimeoutMs });
  for (const node of init.book) network.register(node.name, node.peerId, node.ip);
  const names = new Map(init.book.map((n) => [n.peerId, n.name]));
  const name = (peerId: string) => names.get(peerId) ?? peerId.slice(-6);
  const fleet = await Fleet.create(network, init.timings, init.nodes, init.root);

  const api: ShardApi = {
    network: (change) => applyChange(network, change),
    start: (node, generation, join) => fleet.start(node, generation, join),
    stop: (node, crash) => fleet.stop(node, crash),
    stopAll: () => fleet.stopAll(),
    census: () =>
      Promise.all(
        fleet.running.map(async (a) => {
          const { peers, connections } = a.status();
          const gossip = await a.metrics.gossipMessages.get();
          const gossipIn = gossip.values
            .filter((v) => v.labels.direction === 'in')
            .reduce((sum, v) => sum + v.value, 0);
          return { ...peers, records: a.state.state.nodes().length, connections, gossipIn };
        }),
      ),
    copies: () => [...fleet.runtime.copiesPerJob()],
    placements: () => fleet.running.map(placementOf),
    stateDigests: () =>
      fleet.running.map((a) =>
        createHash('sha256').update(canonicalJson(a.state.state.summaries())).digest('base64'),
      ),
    unknownJobs: (jobs) =>
      jobs.filter((job) =>
        fleet.running.some((a) => {
          const view = a.state.state.job(job);
          return view === undefined || view.desired !== 'running';
        }),
      ),
    submit: async (on, job, count) => (await fleet.agent(on).state.submitJob(simJob(job, count))).outcome,
    runtime: () => ({ all: fleet.runtime.all(), events: fleet.runtime.events }),
    counters: () => [...network.counters],
    diagnose: () => fleet.running.map((a) => diagnoseAgent(a, name)),
  };

  port.on('message', (request: ShardRequest) => {
    const method = api[request.method] as (...args: unknown[]) => unknown;
    Promise.resolve()
      .then(() => method(...request.args))
      .then(
        (value): ShardResponse => ({ id: request.id, ok: true, value }),
        (err: unknown): ShardResponse => ({
          id: request.id,
          ok: false,
          error: err instanceof Error ? err.message : String(err),
        }),
      )
      .then((response) => port.postMessage(response))
      // An answer that cannot cross threads (not plain data) fails its call, not the shard.
      .catch((err: unknown) =>
        port.postMessage({ id: request.id, ok: false, error: `unsendable answer: ${String(err)}` }),
      );
  });
  port.postMessage({ id: 0, ok: true, value: 'ready' } satisfies ShardResponse);
}

await serve(workerData as ShardInit);
