import type { JsonValue } from '../../src/crdt/canonical-json.js';
import { parseJobFile } from '../../src/crdt/job-file.js';
import type { NodeRecord } from '../../src/crdt/records.js';
import type { Prng } from './prng.js';

/**
 * The fleet's node records: identical bytes on every replica of a converged mesh, so the simulator holds them
 * once and hands the same array to every replica's placement (README.md: "what is modelled").
 * A mix that gives placement real choices: 70 % arm64 boards, 2 or 4 cores, 2–8 GB, 40 sites.
 */
export function fleetRecords(nodes: number, random: Prng): NodeRecord[] {
  return Array.from({ length: nodes }, (_, i) => {
    const cpu = random.chance(0.5) ? 2000 : 4000;
    const memory = [2048, 4096, 8192][random.int(3)] ?? 2048;
    return {
      peerId: peerIdOf(i),
      name: `edge-${i}`,
      labels: { site: `site-${random.int(40)}`, role: random.chance(0.3) ? 'sensor' : 'gateway' },
      arch: random.chance(0.7) ? 'arm64' : 'amd64',
      os: 'linux',
      cpu,
      memory,
      reserved: { cpu: cpu / 10, memory: Math.min(128, memory / 10) },
      drivers: random.chance(0.8) ? ['docker', 'exec'] : ['exec'],
      agentVersion: '0.1.0',
      addresses: [],
    };
  });
}

/** A stable, peer-id-shaped name per node index (placement hashes it onto its ring). */
export function peerIdOf(index: number): string {
  return `12D3KooWSim${index.toString(36).padStart(6, '0')}`;
}

/**
 * The job each measured change submits: version `v` of one service (the count grows with the version, so every
 * change is a real spec update that moves placement).
 */
export function probeJob(name: string, version: number): JsonValue {
  const parsed = parseJobFile(
    [
      `name: ${name}`,
      'driver: exec',
      'command: /bin/sleep',
      'args: ["3600"]',
      `count: ${2 + version}`,
      'resources: { cpu: 250, memory: 128 }',
      'constraints:',
      '  - { attribute: arch, operator: "=", value: arm64 }',
      'affinities:',
      '  - { attribute: label.role, operator: "=", value: gateway, weight: 50 }',
    ].join('\n'),
  );
  if (!parsed.ok) throw new Error(`probe job does not parse: ${JSON.stringify(parsed.errors)}`);
  return parsed.spec as unknown as JsonValue;
}
