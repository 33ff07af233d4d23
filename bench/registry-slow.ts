/**
 * bench:registry's slow-receiver case (issue 15): a large incompressible layer from one agent to another whose
 * store writes are paced like a slow SD card, with the upstream registry stopped before the receiver asks, so
 * every byte crosses the peer protocol. The two agents are separate processes (bench/registry-agent.ts) started
 * with meshd's own V8 flags; the receiver's RSS is read from /proc while it idles and while it receives.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RegistryTuning } from '../src/registry-p2p/registry-service.js';
import { imageConfig, pushImage, startUpstreamRegistry } from '../test/support/registry.js';
import type { AgentAnswer, AgentRequest, AgentSpec } from './registry-agent.js';

const MB = 1024 * 1024;
const REPO = 'bench/slow';
// Compiled to dist/build/bench/registry-slow.js.
const build = resolve(import.meta.dirname, '..');

/** The flags meshd's shebang runs node with: an agent measured under other V8 settings would not be meshd's. */
function meshdNodeFlags(): string[] {
  const shebang = readFileSync(join(build, 'src/cli/meshd.js'), 'utf8').split('\n', 1)[0] ?? '';
  return shebang.split(/\s+/).filter((word) => word.startsWith('--'));
}

interface Child {
  readonly process: ChildProcess;
  readonly address: string;
  ask(request: AgentRequest): Promise<AgentAnswer>;
}

async function spawnAgent(spec: AgentSpec): Promise<Child> {
  const child = fork(join(build, 'bench/registry-agent.js'), [JSON.stringify(spec)], {
    execArgv: meshdNodeFlags(),
    // The bench's stdout is its JSON: whatever an agent prints goes to stderr.
    stdio: ['ignore', 2, 2, 'ipc'],
  });
  const next = () =>
    new Promise<AgentAnswer>((resolvePromise, reject) => {
      const onExit = (code: number | null) => reject(new Error(`${spec.name} exited (${code})`));
      child.once('exit', onExit);
      child.once('message', (answer: AgentAnswer) => {
        child.off('exit', onExit);
        resolvePromise(answer);
      });
    });
  const ready = await next();
  if (ready.kind !== 'ready') throw new Error(`${spec.name}: ${JSON.stringify(ready)}`);
  return {
    process: child,
    address: ready.address,
    ask: (request) => {
      const answer = next();
      child.send(request);
      return answer;
    },
  };
}

async function stopAgent(child: Child | undefined): Promise<void> {
  if (!child || child.process.exitCode !== null) return;
  const exited = new Promise((done) => child.process.once('exit', done));
  child.process.send({ kind: 'stop' } satisfies AgentRequest);
  await Promise.race([exited, sleep(10_000).then(() => child.process.kill('SIGKILL'))]);
}

/** VmRSS and VmHWM (the kernel's peak since the last reset) of a process, in bytes. */
function rss(pid: number): { now: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) =>
    Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  return { now: kb('VmRSS') * 1024, peak: kb('VmHWM') * 1024 };
}

/** Samples VmRSS every 100 ms until stopped; the kernel's own peak catches what falls between samples. */
function sampleRss(pid: number): { stop: () => { samples: number[]; hwm: number } } {
  const samples: number[] = [];
  const timer = setInterval(() => samples.push(rss(pid).now), 100);
  return {
    stop: () => {
      clearInterval(timer);
      return { samples, hwm: rss(pid).peak };
    },
  };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
const mb = (bytes: number) => Number((bytes / MB).toFixed(1));

export async function slowReceiver(
  layerMb: number,
  writeMbPerSecond: number,
  tuning: Partial<RegistryTuning>,
) {
  const upstream = await startUpstreamRegistry();
  let holder: Child | undefined;
  let receiver: Child | undefined;
  try {
    const layer = randomBytes(layerMb * MB);
    const image = await pushImage(upstream.direct, REPO, 'v1', imageConfig([layer]), [layer]);
    const blob = image.layers[0];
    if (!blob) throw new Error('pushed no layer');
    const context = { registry: upstream.host, repository: REPO, size: layer.length };
    holder = await spawnAgent({ name: 'slow-holder', tuning, join: [] });
    receiver = await spawnAgent({
      name: 'slow-receiver',
      tuning: { ...tuning, writeBytesPerSecond: writeMbPerSecond * MB },
      join: [holder.address],
    });
    for (let i = 0; ; i++) {
      const answer = await receiver.ask({ kind: 'peers' });
      if (answer.kind === 'peers' && answer.count > 0) break;
      if (i > 300) throw new Error('the two agents did not link in 30 s');
      await sleep(100);
    }
    const held = await holder.ask({
      kind: 'fetch',
      digest: blob.digest,
      context: { ...context, delegate: false },
    });
    if (held.kind !== 'fetched') throw new Error(`holder: ${JSON.stringify(held)}`);
    await upstream.stop();

    // Idle: linked, the holder's pull over, nothing asked of the receiver yet.
    const pid = receiver.process.pid ?? 0;
    await sleep(5_000);
    const idle = sampleRss(pid);
    await sleep(3_000);
    const idleRss = median(idle.stop().samples);
    // 5 = reset the peak RSS (VmHWM) to the current RSS, so the peak read after is the transfer's alone.
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    const during = sampleRss(pid);
    const started = performance.now();
    const got = await receiver.ask({
      kind: 'fetch',
      digest: blob.digest,
      context: { ...context, delegate: true },
    });
    const seconds = (performance.now() - started) / 1000;
    const { samples, hwm } = during.stop();
    const peak = Math.max(hwm, ...samples);
    return {
      layerMb,
      writeMbPerSecond,
      nodeFlags: meshdNodeFlags(),
      // A transfer that fails is a figure too (it did before flow control): how long it lasted, and why.
      ...(got.kind === 'fetched'
        ? {
            seconds: Number(seconds.toFixed(1)),
            mbPerSecond: Number((layer.length / MB / seconds).toFixed(2)),
            bytesFromPeers: got.fromPeers,
            bytesFromUpstream: got.fromUpstream,
          }
        : { failedAfterSeconds: Number(seconds.toFixed(2)), error: JSON.stringify(got) }),
      receiverIdleRssMb: mb(idleRss),
      receiverPeakRssMb: mb(peak),
      peakMinusIdleMb: mb(peak - idleRss),
      receiverMedianRssDuringMb: samples.length > 0 ? mb(median(samples)) : null,
      target: { peakMinusIdleMb: 32 },
    };
  } finally {
    await Promise.all([stopAgent(receiver), stopAgent(holder)]);
    await upstream.stop();
  }
}
