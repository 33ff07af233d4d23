import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rotateIfOver } from '../../../src/node/drivers/log-rotation.js';

let dir: string;
let log: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mycel-rot-'));
  log = join(dir, 'stdout.log');
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('rotateIfOver', () => {
  it('leaves a file at or under the cap, and a missing one, alone', async () => {
    expect(await rotateIfOver(join(dir, 'missing.log'), { maxBytes: 4, maxFiles: 2 })).toBe(false);
    await writeFile(log, 'abcd');
    expect(await rotateIfOver(log, { maxBytes: 4, maxFiles: 2 })).toBe(false);
    expect(await readFile(log, 'utf8')).toBe('abcd');
  });

  it('shifts generations and drops the oldest, keeping maxFiles files', async () => {
    const policy = { maxBytes: 2, maxFiles: 3 };
    for (const generation of ['one', 'two', 'three', 'four']) {
      await writeFile(log, generation, { flag: 'a' });
      expect(await rotateIfOver(log, policy)).toBe(true);
    }
    expect(await readFile(log, 'utf8')).toBe('');
    expect(await readFile(`${log}.1`, 'utf8')).toBe('four');
    expect(await readFile(`${log}.2`, 'utf8')).toBe('three');
    expect(existsSync(`${log}.3`)).toBe(false);
  });

  it('with a single file, only truncates', async () => {
    await writeFile(log, 'too long');
    expect(await rotateIfOver(log, { maxBytes: 2, maxFiles: 1 })).toBe(true);
    expect(await readFile(log, 'utf8')).toBe('');
    expect(existsSync(`${log}.1`)).toBe(false);
  });
});
