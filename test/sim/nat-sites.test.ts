import { expect, test } from 'vitest';
import { LAYER_BYTES, LOG_LINES, runNatSites } from '../../sim/netns/nat-sites.js';

/**
 * Devices that can only dial out: two sites, each a device behind a masquerading router with no inbound
 * forwarding, and one reachable member running `--relay server`, all meshd processes in a closed mesh (pnet).
 * From site 1, `meshctl alloc logs` and `alloc exec` of a copy at site 2 and a remote meshctl steering site 2's agent
 * all work,
 * through the relay; and with every upstream registry down, an image held only at site 2 is pulled at site 1,
 * fetched through the relay member on direct connections (registry-p2p's fetch-through). Needs root (CI runs as
 * root) and `npm run build && npm run bundle` (npm test does both).
 */
test('two sites behind NAT reach each other through a relay: alloc logs and exec, remote meshctl, an image held only at site 2', async () => {
  const report = await runNatSites();
  process.stderr.write(`nat-sites: ${JSON.stringify({ ...report, reachability: undefined })}\n`);
  // The NAT is real: nobody dials into a site, and one site cannot dial the other.
  expect(report.directDialsRefused).toBe(true);
  expect(report.reachability.relay.status).toBe('reachable');
  expect(report.reachability.relay.reservationsHeld).toBe(2);
  for (const site of ['site1', 'site2'] as const) {
    expect(report.reachability[site].status).toBe('unreachable');
    expect(report.reachability[site].relayAddresses.some((a) => a.includes('/p2p-circuit/'))).toBe(true);
  }
  expect(report.logs.lines).toBe(LOG_LINES);
  expect(report.logs.lastLine).toBe(`site 2 line ${LOG_LINES - 1}`);
  // The log went through the relay: site 1's agent held a relayed connection, and the relay carried the bytes.
  expect(report.site1RelayedConnections).toBeGreaterThanOrEqual(1);
  expect(report.logs.relayBytes).toBeGreaterThan(2 * LOG_LINES * 'site 2 line 00000\n'.length * 0.9);
  // alloc exec of the same copy, operator-signed, checked and run by its owner at site 2: output and exit code.
  expect(report.exec.stdout).toMatch(/^on site2/m);
  expect(report.exec.exitCode).toBe(5);
  expect(report.remoteStatus.peerId).toBe(report.remoteStatus.expected);
  expect(report.syncFailuresAroundRelay).toBe(0);
  // An image held only at site 2 reaches site 1 with every upstream down, through the relay member on direct
  // links (OCI never runs on relayed ones), verified, and the member keeps the layer for the next device.
  expect(report.fetchThrough.verified).toBe(true);
  expect(report.fetchThrough.bytes).toBe(LAYER_BYTES);
  expect(report.fetchThrough.relayKeptLayer).toBe(true);
  expect(report.fetchThrough.relayBytes).toBeGreaterThan(2 * LAYER_BYTES);
}, 180_000);
