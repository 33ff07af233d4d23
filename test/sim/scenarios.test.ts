import { expect, test } from 'vitest';
import { runScenario } from '../../sim/fault/run-scenario.js';
import type { Scenario } from '../../sim/scenario.js';

/**
 * Compact versions of sim/scenarios/ through the in-process fault layer: real agents, real libp2p over
 * loopback TCP, links through the fault layer, workloads in the simulated driver. Each takes well under a
 * minute; the full scenarios run by hand (`npm run sim -- <name>`, figures in docs/results/).
 */
const base = {
  description: 'CI subset',
  nodes: 4,
  scale: 4,
  jobs: [
    { name: 'web', count: 2, on: 'n0' },
    { name: 'edge', count: 3, on: 'n1' },
  ],
  // After a full partition every dial has failed for a while: the dialer's backoff (capped at 60 real
  // seconds, not scaled) decides when the halves meet again, so the deadline allows for it.
  settleS: 480,
} as const;

test('split brain: both halves accept a job and replace the other side; the heal leaves every job at count', async () => {
  const scenario: Scenario = {
    ...base,
    name: 'split-brain-ci',
    steps: [
      {
        at: 0,
        do: {
          kind: 'partition',
          groups: [
            ['n0', 'n1'],
            ['n2', 'n3'],
          ],
        },
      },
      { at: 25, do: { kind: 'submit', job: 'left', count: 1, on: 'n0' } },
      { at: 25, do: { kind: 'submit', job: 'right', count: 1, on: 'n3' } },
      { at: 40, do: { kind: 'heal' } },
    ],
  };
  const report = await runScenario(scenario);
  expect(report.failures, JSON.stringify(report.diagnosis)).toEqual([]);
  expect(report.ok).toBe(true);
  expect(report.acknowledgedJobsLost).toBe(0);
  // Each side ran copies of work it could not see: the partition was real, and the heal resolved it.
  expect(report.duplicateAllocSeconds).toBeGreaterThan(0);
  expect(report.convergeS.placement).not.toBeNull();
}, 300_000);

test('one-way cut: a node whose bytes cannot get out is replaced, and its copies survive the heal unrestarted', async () => {
  const scenario: Scenario = {
    ...base,
    name: 'one-way-out-ci',
    steps: [
      ...['n0', 'n1', 'n2'].map((to) => ({ at: 0, do: { kind: 'cut' as const, from: 'n3', to } })),
      // Long enough past the lost period that the replacements run for a while before the heal, even when a
      // loaded machine delays them (at 40 s a slow run healed before any replacement started).
      { at: 90, do: { kind: 'heal' } },
    ],
  };
  const report = await runScenario(scenario);
  expect(report.failures, JSON.stringify(report.diagnosis)).toEqual([]);
  expect(report.restartsOfSurvivingOriginals).toBe(0);
  expect(report.duplicateAllocSeconds).toBeGreaterThan(0);
  expect(report.perNodePerSecond.bytesOut).toBeGreaterThan(0);
}, 300_000);

test('two shards: a crash and an IP change orchestrated across worker threads leave every job at count', async () => {
  const scenario: Scenario = {
    ...base,
    name: 'shards-ci',
    steps: [
      // n1 and n2 live in different shards from some of their peers: every shard must hold them offline.
      { at: 0, do: { kind: 'crash', node: 'n1' } },
      { at: 5, do: { kind: 'ip-change', node: 'n2' } },
      { at: 30, do: { kind: 'restart', node: 'n1' } },
    ],
  };
  const report = await runScenario(scenario, 2);
  expect(report.failures, JSON.stringify(report.diagnosis)).toEqual([]);
  expect(report.restartsOfSurvivingOriginals).toBe(0);
  // n1's copies died with it and were replaced elsewhere while it was down.
  expect(report.missingAllocSeconds).toBeGreaterThan(0);
  expect(report.convergeS.placement).not.toBeNull();
}, 300_000);
