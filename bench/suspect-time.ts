/**
 * How long a mesh takes to suspect an agent that fell silent, run by bench/idle-traffic.sh inside its network
 * namespace after it has stopped agent <victim> with SIGSTOP (a silent failure, as a power loss or a cut cable: no
 * connection closes, so only missing beats tell):
 *   suspect-time <firstApiPort> <agents> <dataDirs> <victim> <stoppedAtMs>
 * polls every other agent's /v1/peers every 100 ms and prints, as JSON, the time from the stop until each reported
 * the victim suspect: min, median and max over the observers.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { API_TOKEN_FILE } from '../src/node/api/client.js';

const [firstPort, agents, dataDirs, victim, stoppedAt] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string,
];
const n = Number(agents);
const victimIndex = Number(victim);
// The bench names agent i `n<i>`.
const victimName = `n${victimIndex}`;
const detected = new Map<number, number>();
const deadline = Date.now() + 60_000;
while (detected.size < n - 1 && Date.now() < deadline) {
  for (let i = 0; i < n; i++) {
    if (i === victimIndex || detected.has(i)) continue;
    const token = readFileSync(join(dataDirs, `n${i}`, API_TOKEN_FILE), 'utf8').trim();
    const res = await fetch(`http://127.0.0.1:${Number(firstPort) + i}/v1/peers`, {
      headers: { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(5_000),
    }).catch(() => undefined);
    if (!res?.ok) continue;
    const peers = (await res.json()) as { name: string; liveness: string }[];
    const seen = peers.find((p) => p.name === victimName);
    if (seen && seen.liveness !== 'alive') detected.set(i, Date.now() - Number(stoppedAt));
  }
  await new Promise((r) => setTimeout(r, 100));
}
const times = [...detected.values()].sort((a, b) => a - b);
console.log(
  JSON.stringify({
    suspectAfterSilentStop: {
      observers: n - 1,
      detected: times.length,
      minMs: times[0] ?? null,
      medianMs: times[Math.floor(times.length / 2)] ?? null,
      maxMs: times.at(-1) ?? null,
    },
  }),
);
