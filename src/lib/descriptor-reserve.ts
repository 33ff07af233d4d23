import { closeSync, openSync } from 'node:fs';

/**
 * A few descriptors held open on /dev/null and given up only when an open fails for lack of descriptors, so a
 * state write still gets one when something else (a leak, a flood of connections) has taken the rest: losing an
 * acknowledged job is worse than refusing one more connection. The nginx and libuv accept() trick, for writes.
 */
export class DescriptorReserve {
  readonly #size: number;
  readonly #held: number[] = [];

  constructor(size = 2) {
    this.#size = size;
    this.#refill();
  }

  /** Runs `open`; when it fails with EMFILE or ENFILE, frees the reserve and tries once more. */
  async open<T>(open: () => Promise<T>): Promise<T> {
    this.#refill();
    try {
      return await open();
    } catch (err) {
      if (!outOfDescriptors(err) || this.#held.length === 0) throw err;
      this.release();
      return await open();
    } finally {
      this.#refill();
    }
  }

  /** Closes what is held: at shutdown, and when the reserve is spent. */
  release(): void {
    for (const fd of this.#held.splice(0)) closeSync(fd);
  }

  get held(): number {
    return this.#held.length;
  }

  #refill(): void {
    while (this.#held.length < this.#size) {
      try {
        this.#held.push(openSync('/dev/null', 'r'));
      } catch {
        return; // Still short of descriptors: the next write tries again.
      }
    }
  }
}

function outOfDescriptors(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'EMFILE' || code === 'ENFILE';
}

let shared: DescriptorReserve | undefined;

/** One reserve per process: descriptors run out per process, and a simulator runs hundreds of stores in one. */
export function stateWriteReserve(): DescriptorReserve {
  shared ??= new DescriptorReserve();
  return shared;
}
