import { describe, expect, it } from 'vitest';
import type { JobVersion, JobView } from '../../../src/crdt/job-log.js';
import type { JobSpec } from '../../../src/crdt/job-spec.js';
import type { AllocStatus } from '../../../src/crdt/records.js';
import type { Result } from '../../../src/lib/result.js';
import { ImageUse } from '../../../src/node/placement/image-use.js';
import type { AllocRow } from '../../../src/node/placement/placement-service.js';
import { formatImageRef, parseImageRef } from '../../../src/registry-p2p/image-ref.js';

const version = (v: number, image: string): JobVersion => ({
  version: v,
  specHash: `h${v}${image}`,
  spec: { image },
  submittedBy: 'op',
  submittedAt: 0,
});

const job = (name: string, versions: JobVersion[]): JobView =>
  ({ name, history: versions, current: versions[versions.length - 1] }) as unknown as JobView;

const alloc = (job: string, node: string, jobVersion: number, state: string): AllocStatus =>
  ({ allocId: `${job}-${node}`, job, node, jobVersion, state }) as unknown as AllocStatus;

/** Placement's spec cache, reduced to reading the image out of the stored spec. */
const placement = (rows: AllocRow[]) => ({
  allocs: () => rows,
  specs: {
    read: (entry: JobVersion): Result<JobSpec> => ({
      ok: true,
      value: { driver: 'docker', image: (entry.spec as { image: string }).image } as JobSpec,
    }),
  },
});

const normalImage = (image: string) => {
  const ref = parseImageRef(image);
  return ref ? formatImageRef(ref) : image;
};

describe('ImageUse', () => {
  const jobs = [job('web', [version(1, 'web:1'), version(2, 'web:2')]), job('db', [version(1, 'db:1')])];
  const state = (allocations: AllocStatus[]) => ({
    allocations: () => allocations,
    jobs: () => jobs,
    job: (name: string) => jobs.find((j) => j.name === name),
  });

  it('keeps the images of copies this node runs (by their own version) or is about to start', () => {
    const use = new ImageUse({
      self: 'me',
      normalImage,
      state: state([alloc('web', 'me', 1, 'running'), alloc('db', 'other', 1, 'running')]),
      placement: () =>
        placement([
          { allocId: 'db-me', job: 'db', node: 'me', jobVersion: 1, desired: 'run' } as unknown as AllocRow,
        ]),
    });
    expect(use.inUse().sort()).toEqual(['db:1', 'web:1']);
  });

  it('mid-surge keeps both images: the outgoing copy of one version and its successor of the next', () => {
    const use = new ImageUse({
      self: 'me',
      normalImage,
      state: state([alloc('web', 'me', 1, 'running')]),
      placement: () =>
        placement([
          {
            allocId: 'web-me',
            job: 'web',
            node: 'me',
            jobVersion: 1,
            desired: 'outgoing',
          } as unknown as AllocRow,
          {
            allocId: 'web-me-2',
            job: 'web',
            node: 'me',
            jobVersion: 2,
            desired: 'run',
          } as unknown as AllocRow,
        ]),
    });
    expect(use.inUse().sort()).toEqual(['web:1', 'web:2']);
  });

  it('not those of finished copies, nor of copies placement stops', () => {
    const use = new ImageUse({
      self: 'me',
      normalImage,
      state: state([alloc('web', 'me', 2, 'complete')]),
      placement: () =>
        placement([
          { allocId: 'db-me', job: 'db', node: 'me', jobVersion: 1, desired: 'stop' } as unknown as AllocRow,
        ]),
    });
    expect(use.inUse()).toEqual([]);
  });

  it('names an image any version of any job uses, however the reference is spelled', () => {
    const use = new ImageUse({ self: 'me', normalImage, state: state([]), placement: () => placement([]) });
    expect(use.named('web:1')).toBe(true);
    expect(use.named('docker.io/library/web:2')).toBe(true);
    expect(use.named('web:3')).toBe(false);
  });

  it('names a pinned image by its digest, and by the tag it was pinned from, never by another tag', () => {
    const digest = `sha256:${'ef'.repeat(32)}`;
    const pinned = [job('api', [version(1, `reg.local/api:2@${digest}`)])];
    const use = new ImageUse({
      self: 'me',
      normalImage,
      state: { allocations: () => [], jobs: () => pinned, job: () => pinned[0] },
      placement: () => placement([]),
    });
    expect(use.named(`reg.local/api@${digest}`)).toBe(true);
    expect(use.named(`reg.local/api:9@${digest}`)).toBe(true);
    expect(use.named('reg.local/api:2')).toBe(true);
    expect(use.named('reg.local/api:3')).toBe(false);
    expect(use.named(`reg.local/api@sha256:${'00'.repeat(32)}`)).toBe(false);
  });
});
