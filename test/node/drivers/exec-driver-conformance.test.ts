import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExecDriver } from '../../../src/node/drivers/exec-driver.js';
import { driverConformance, scriptFor } from './conformance.js';

driverConformance(
  'exec',
  async () => {
    const root = await mkdtemp(join(tmpdir(), 'mycel-conformance-'));
    const drivers: ExecDriver[] = [];
    // One data dir per owner, as one per agent: the data dir lock keeps two agents out of one.
    const dirs = new Map<string, string>();
    return {
      driver: (owner) => {
        if (!dirs.has(owner)) dirs.set(owner, join(root, `agent-${dirs.size}`));
        const driver = new ExecDriver({ owner, dataDir: dirs.get(owner)! });
        drivers.push(driver);
        return driver;
      },
      task: (allocId, behaviour, jobVersion = 1) => ({
        allocId,
        job: 'web',
        jobVersion,
        driver: 'exec',
        command: 'sh',
        args: ['-c', scriptFor(behaviour)],
        env: {},
        network: 'host',
        ports: [],
        resources: { cpu: 100, memory: 64 },
      }),
      cleanup: async () => {
        for (const driver of drivers) {
          for (const h of await driver.list()) await driver.stop(h.allocId, { graceMs: 100 });
          await driver.close();
        }
        await rm(root, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
      },
    };
  },
  { runsCommands: true },
);
