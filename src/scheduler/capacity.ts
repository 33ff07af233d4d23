/**
 * What each node has committed, kept up to date as copies are kept, placed and stopped, so that checking a
 * node costs O(1) and declared cpu, memory and host ports are never over-committed.
 */
import type { NodeInfo } from './node-table.js';
import type { Dimension, SchedJob } from './types.js';

/** Host ports a job holds exclusively on its node, as `protocol/port`. */
export function hostPorts(job: SchedJob): readonly string[] {
  const out: string[] = [];
  for (const p of job.ports ?? []) {
    if (p.host !== undefined) out.push(`${p.protocol ?? 'tcp'}/${p.host}`);
  }
  return out;
}

export class Usage {
  readonly cpu: Float64Array;
  readonly memory: Float64Array;
  readonly #ports: (Set<string> | undefined)[];
  readonly #nodes: readonly NodeInfo[];

  constructor(nodes: readonly NodeInfo[]) {
    this.#nodes = nodes;
    this.cpu = new Float64Array(nodes.length);
    this.memory = new Float64Array(nodes.length);
    this.#ports = new Array(nodes.length);
  }

  /** The first dimension the node lacks for one more copy, or undefined when it fits. */
  exhausted(node: number, job: SchedJob, ports: readonly string[]): Dimension | undefined {
    const info = this.#nodes[node]!;
    if (this.cpu[node]! + job.resources.cpu > info.capCpu) return 'cpu';
    if (this.memory[node]! + job.resources.memory > info.capMemory) return 'memory';
    const taken = this.#ports[node];
    if (taken !== undefined && ports.some((p) => taken.has(p))) return 'ports';
    return undefined;
  }

  add(node: number, job: SchedJob, ports: readonly string[]): void {
    this.cpu[node]! += job.resources.cpu;
    this.memory[node]! += job.resources.memory;
    if (ports.length === 0) return;
    let taken = this.#ports[node];
    if (taken === undefined) {
      taken = new Set();
      this.#ports[node] = taken;
    }
    for (const p of ports) taken.add(p);
  }

  remove(node: number, job: SchedJob, ports: readonly string[]): void {
    this.cpu[node]! -= job.resources.cpu;
    this.memory[node]! -= job.resources.memory;
    const taken = this.#ports[node];
    if (taken !== undefined) for (const p of ports) taken.delete(p);
  }
}
