import { closeSync, openSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { stateWriteReserve } from '../../../src/lib/descriptor-reserve.js';
import { StateStore } from '../../../src/node/state/state-store.js';
import { replica, spec } from '../../crdt/replicas.js';

let dataDir: string | undefined;
afterEach(async () => {
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

/** Opens /dev/null until the process has no descriptor left; returns them to close. */
function exhaustDescriptors(): number[] {
  const fds: number[] = [];
  try {
    for (;;) fds.push(openSync('/dev/null', 'r'));
  } catch (err) {
    expect((err as NodeJS.ErrnoException).code).toBe('EMFILE');
  }
  return fds;
}

test('a flush succeeds with every other descriptor taken, from the reserve', async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'mycel-reserve-'));
  const state = replica('a', 3);
  const { store } = await StateStore.open({ dataDir, snapshotAfterLogBytes: 1 }, state);
  state.submitJob('web', spec('img:1'), 'op', 1000);
  const taken = exhaustDescriptors();
  let flushed: unknown;
  try {
    // The log append, the snapshot's temporary file, and the directory fsyncs each need a descriptor.
    flushed = await store.flush().then(
      () => 'ok',
      (err: Error) => err.message,
    );
  } finally {
    for (const fd of taken) closeSync(fd);
  }
  expect(flushed).toBe('ok');
  // Refilled by the next write once descriptors are free again.
  state.submitJob('api', spec('img:2'), 'op', 2000);
  await store.flush();
  expect(stateWriteReserve().held).toBe(2);
  const reopened = await StateStore.open({ dataDir }, replica('a', 4));
  expect(reopened.report.documents).toBeGreaterThan(0);
  expect(reopened.report.problems).toEqual([]);
});
