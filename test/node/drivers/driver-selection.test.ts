import { describe, expect, it } from 'vitest';
import { driversFor } from '../../../src/node/drivers/driver-selection.js';

describe('driversFor', () => {
  it('auto offers docker only when the engine answers, and exec always', () => {
    expect(driversFor('auto', true)).toEqual(['docker', 'exec']);
    expect(driversFor('auto', false)).toEqual(['exec']);
  });

  it('an explicit choice offers that driver alone', () => {
    expect(driversFor('exec', true)).toEqual(['exec']);
    expect(driversFor('exec', false)).toEqual(['exec']);
    expect(driversFor('docker', true)).toEqual(['docker']);
  });

  it('refuses docker without an engine and says how to fix it', () => {
    expect(() => driversFor('docker', false)).toThrow(/--driver auto/);
  });
});
