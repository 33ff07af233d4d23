/** The simulator's driver, over its in-memory runtime: what the simulated fleet's reconcilers rely on. */
import { SimDriver } from '../../../sim/driver/sim-driver.js';
import { SimRuntime } from '../../../sim/driver/sim-runtime.js';
import { driverConformance } from './conformance.js';

driverConformance(
  'sim',
  async () => {
    const runtime = new SimRuntime(() => performance.now());
    return {
      driver: (owner) => new SimDriver(runtime, owner),
      task: (allocId, _behaviour, jobVersion = 1) => ({
        allocId,
        job: 'web',
        jobVersion,
        driver: 'exec',
        command: 'true',
        args: [],
        env: {},
        network: 'host',
        ports: [],
        resources: { cpu: 100, memory: 64 },
      }),
      actOut: (owner, allocId, behaviour) => {
        for (const line of behaviour.stderr ?? []) runtime.write(owner, allocId, 'stderr', line);
        for (const line of behaviour.stdout ?? []) runtime.write(owner, allocId, 'stdout', line);
        if (behaviour.exitCode !== undefined) runtime.exit(owner, allocId, behaviour.exitCode);
      },
      cleanup: async () => {},
    };
  },
  { runsCommands: false },
);
