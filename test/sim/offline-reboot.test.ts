import { expect, test } from 'vitest';
import { runScenario } from '../../sim/fault/run-scenario.js';
import type { Scenario } from '../../sim/scenario.js';
import { scenario as offlineReboot } from '../../sim/scenarios/offline-reboot.js';

/**
 * The offline-reboot scenario on the CI fleet (four agents, real libp2p through the fault layer, workloads in
 * the simulated driver): n1 is cut off, loses power, boots still cut off, and rejoins later.
 */
test('offline reboot: the device runs its own copies again within 5 s of booting while cut off, and nobody else’s', async () => {
  const scenario: Scenario = {
    ...offlineReboot,
    name: 'offline-reboot-ci',
    nodes: 4,
    jobs: [
      { name: 'web', count: 2, on: 'n0' },
      { name: 'edge', count: 4, on: 'n2' },
    ],
    settleS: 480,
  };
  const report = await runScenario(scenario);
  expect(report.failures, JSON.stringify(report.diagnosis)).toEqual([]);
  const [reboot] = report.reboots ?? [];
  expect(reboot?.node).toBe('n1');
  expect(reboot?.ownCopies).toBeGreaterThan(0);
  // Simulated seconds over the scale are real seconds: well within the 5 s, and within half the lost
  // period (5 s real at scale 4), so a device that waited out its lost period before restarting fails here.
  expect(reboot?.ownBackS).not.toBeNull();
  expect((reboot?.ownBackS ?? Number.POSITIVE_INFINITY) / scenario.scale).toBeLessThan(2.5);
  expect(reboot?.othersStartedWhileCutOff).toEqual([]);
  console.log(
    `offline-reboot-ci: ${JSON.stringify({ reboots: report.reboots, convergeS: report.convergeS })}`,
  );
}, 300_000);
