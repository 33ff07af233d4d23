import { describe, expect, it } from 'vitest';
import { formatImageRef, mirrorRef, parseImageRef } from '../../src/registry-p2p/image-ref.js';

const DIGEST = `sha256:${'ab'.repeat(32)}`;

describe('an image reference with a tag and a digest (as meshctl job run pins it)', () => {
  it('is pulled by the digest alone, the tag checked and dropped', () => {
    expect(parseImageRef(`127.0.0.1:5000/mycel/app:v1@${DIGEST}`)).toEqual({
      registry: '127.0.0.1:5000',
      repository: 'mycel/app',
      reference: { digest: DIGEST },
    });
    expect(parseImageRef(`busybox:1.36@${DIGEST}`)).toEqual({
      registry: 'docker.io',
      repository: 'library/busybox',
      reference: { digest: DIGEST },
    });
  });

  it('reads the same with a digest alone, and as a tag without one', () => {
    expect(parseImageRef(`busybox@${DIGEST}`)).toEqual({
      registry: 'docker.io',
      repository: 'library/busybox',
      reference: { digest: DIGEST },
    });
    expect(parseImageRef('localhost:5000/app:v1')).toEqual({
      registry: 'localhost:5000',
      repository: 'app',
      reference: { tag: 'v1' },
    });
  });

  it('is named and mirrored by its digest alone, so one image is one name whatever tag was written', () => {
    const ref = parseImageRef(`127.0.0.1:5000/mycel/app:v1@${DIGEST}`)!;
    expect(formatImageRef(ref)).toBe(`127.0.0.1:5000/mycel/app@${DIGEST}`);
    expect(mirrorRef('127.0.0.1:7000', ref)).toBe(`127.0.0.1:7000/127.0.0.1_5000/mycel/app@${DIGEST}`);
  });

  it('is refused with a bad tag or a bad digest', () => {
    expect(parseImageRef(`app:-v1@${DIGEST}`)).toBeUndefined();
    expect(parseImageRef('app:v1@sha256:abc')).toBeUndefined();
    expect(parseImageRef(`app:v1@md5:${'ab'.repeat(16)}`)).toBeUndefined();
    expect(parseImageRef(`app:v1@${DIGEST}@${DIGEST}`)).toBeUndefined();
  });
});
