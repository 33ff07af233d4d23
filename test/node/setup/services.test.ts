import { describe, expect, it } from 'vitest';
import { Lifecycle, type Service, Started } from '../../../src/node/setup/services.js';

function recorder(log: string[], name: string, failStart = false): Service {
  return {
    name,
    start: async () => {
      if (failStart) throw new Error(`${name} failed`);
      log.push(`start ${name}`);
    },
    stop: () => {
      log.push(`stop ${name}`);
    },
  };
}

describe('Lifecycle', () => {
  it('starts services in order and stops them in reverse', async () => {
    const log: string[] = [];
    const lifecycle = new Lifecycle(['a', 'b', 'c'].map((n) => recorder(log, n)));
    await lifecycle.start();
    await lifecycle.stop();
    expect(log).toEqual(['start a', 'start b', 'start c', 'stop c', 'stop b', 'stop a']);
  });

  it('a failed start stops what already started, in reverse, and rethrows', async () => {
    const log: string[] = [];
    const lifecycle = new Lifecycle([recorder(log, 'a'), recorder(log, 'b'), recorder(log, 'c', true)]);
    await expect(lifecycle.start()).rejects.toThrow('c failed');
    expect(log).toEqual(['start a', 'start b', 'stop b', 'stop a']);
  });

  it('keeps stopping after one stop fails, then throws the first failure', async () => {
    const log: string[] = [];
    const failing: Service = {
      name: 'b',
      stop: () => {
        throw new Error('b stop failed');
      },
    };
    const lifecycle = new Lifecycle([recorder(log, 'a'), failing, recorder(log, 'c')]);
    await lifecycle.start();
    await expect(lifecycle.stop()).rejects.toThrow('b stop failed');
    expect(log).toEqual(['start a', 'start c', 'stop c', 'stop a']);
  });
});

describe('Started', () => {
  it('holds the instance its start builds, and refuses to hand it out before', async () => {
    let stopped = false;
    const started = new Started('thing', async () => ({
      stop: () => {
        stopped = true;
      },
    }));
    expect(started.maybe).toBeUndefined();
    expect(() => started.value).toThrow('the agent has not started its thing');
    await started.start();
    expect(started.value).toBeDefined();
    await started.stop();
    expect(stopped).toBe(true);
  });
});
