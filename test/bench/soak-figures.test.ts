import { expect, test } from 'vitest';
import { planFault, ROTATION } from '../../bench/soak/faults.js';
import { increase, parseSyncFigures } from '../../bench/soak/prom.js';
import { baselineMinute, rssGrowth } from '../../bench/soak/summary.js';

test('the soak reads sessions, stalls and the oldest session from Prometheus text, summed over roles', () => {
  const text = [
    '# HELP mycel_state_sync_sessions_total x',
    'mycel_state_sync_sessions_total{role="dialer",outcome="synced"} 7',
    'mycel_state_sync_sessions_total{role="listener",outcome="synced"} 5',
    'mycel_state_sync_sessions_total{role="dialer",outcome="failed"} 2',
    'mycel_state_sync_stalls_total{role="dialer",reason="no-progress"} 1',
    'mycel_state_sync_active_sessions 1',
    'mycel_state_sync_oldest_session_seconds 2.5',
  ].join('\n');
  expect(parseSyncFigures(text)).toEqual({
    ended: { synced: 12, failed: 2 },
    stalls: { 'no-progress': 1 },
    active: 1,
    oldestS: 2.5,
  });
  // A counter that went down is a restarted agent's: all of it is new.
  expect(increase(10, 14)).toBe(4);
  expect(increase(10, 3)).toBe(3);
  expect(increase(undefined, 3)).toBe(3);
});

test('every fault spares agents for the layer, and the rotation hits every kind', () => {
  const kinds = new Set<string>();
  for (let round = 0; round < 20; round++) {
    const fault = planFault(round, 12);
    kinds.add(fault.kind);
    expect(fault.spared.length).toBeGreaterThanOrEqual(2);
    expect(fault.spared.some((s) => fault.victims.includes(s))).toBe(false);
  }
  expect([...kinds].sort()).toEqual([...ROTATION].sort());
});

test('RSS growth compares only agents that ran as the same process in both windows', () => {
  const samples = [
    { t: 100, agent: 0, pid: 1, kb: 100_000 },
    { t: 100, agent: 1, pid: 2, kb: 100_000 },
    { t: 200, agent: 0, pid: 1, kb: 104_000 },
    // Agent 1 was restarted: its new process is small, and must not hide agent 0's growth.
    { t: 200, agent: 1, pid: 3, kb: 60_000 },
  ];
  const growth = rssGrowth(samples, 4, 240);
  expect(baselineMinute(4)).toBe(2);
  expect(baselineMinute(30)).toBe(10);
  expect(growth.agentsCompared).toBe(1);
  expect(growth.fleetGrowthPct).toBe(4);
});
