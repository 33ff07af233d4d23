import type { OutputChunk } from './driver.js';

/**
 * Several output streams as one, in the order chunks arrive. Each source is asked for its next chunk only once
 * the one before it was taken, so a reader that stops holds every source (and the command writing it) back.
 */
export async function* mergeOutput(
  sources: readonly { stream: OutputChunk['stream']; chunks: AsyncIterable<Uint8Array> }[],
): AsyncGenerator<OutputChunk> {
  const iterators = sources.map((s) => s.chunks[Symbol.asyncIterator]());
  const next = (i: number) => iterators[i]!.next().then((step) => ({ i, step }));
  const pending = new Map(sources.map((_, i) => [i, next(i)] as const));
  try {
    while (pending.size > 0) {
      const { i, step } = await Promise.race(pending.values());
      if (step.done) {
        pending.delete(i);
        continue;
      }
      pending.set(i, next(i));
      yield { stream: sources[i]!.stream, data: step.value };
    }
  } finally {
    await Promise.allSettled(iterators.map((it) => it.return?.()));
  }
}
