import { rendezvous } from './hash.js';
import type { NodeInfo } from './node-table.js';

/** Highest score; ties by rendezvous weight of (copy, node), then by peer id. */
export class BestNode {
  node = -1;
  score = 0;
  weight = 0;
  readonly #key: number;
  readonly #nodes: readonly NodeInfo[];

  constructor(key: number, nodes: readonly NodeInfo[]) {
    this.#key = key;
    this.#nodes = nodes;
  }

  offer(node: number, score: number): void {
    const weight = rendezvous(this.#key, this.#nodes[node]!.hash);
    if (
      this.node < 0 ||
      score > this.score ||
      (score === this.score &&
        (weight > this.weight ||
          (weight === this.weight && this.#nodes[node]!.node.peerId < this.#nodes[this.node]!.node.peerId)))
    ) {
      this.node = node;
      this.score = score;
      this.weight = weight;
    }
  }

  merge(other: BestNode): void {
    if (other.node >= 0) this.offer(other.node, other.score);
  }

  choice(): { node: number; score: number } | undefined {
    return this.node < 0 ? undefined : { node: this.node, score: this.score };
  }
}
