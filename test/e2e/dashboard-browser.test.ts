import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import puppeteer, { type Browser } from 'puppeteer-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { tempDir, waitFor } from '../support/agents.js';
import { apiGet, apiPost, type MeshdAgent, startMeshdMesh, stopMeshd } from '../support/meshd-mesh.js';
import { bundle, meshctl, ROOT } from '../support/processes.js';

/**
 * The dashboard in a real browser (Debian's Chromium, headless, driven by puppeteer-core) against three real
 * agents: login through `meshctl ui --print-url`, the devices and a job with its copies on the right devices,
 * a live update when an agent stops, and a screenshot in test-results/.
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = resolve(ROOT, 'test-results');
const cleanups: (() => Promise<void>)[] = [];
beforeAll(bundle, 120_000);
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

test('the dashboard lists devices, a job and its copies, and follows an agent stopping', async () => {
  const tmp = await tempDir();
  cleanups.push(tmp.cleanup);
  const timing = {
    driver: 'exec',
    heartbeatIntervalMs: 250,
    suspectAfterMs: 1_000,
    lostAfterMs: 3_000,
  } as const;
  const { agents } = await startMeshdMesh(tmp.path, ['d0', 'd1', 'd2'], timing);
  cleanups.push(() => Promise.all(agents.map(stopMeshd)).then(() => undefined));
  const [watcher, submitter, leaver] = agents as [MeshdAgent, MeshdAgent, MeshdAgent];
  await apiPost(submitter, '/v1/jobs', {
    source: 'name: web\ndriver: exec\ncommand: /bin/sleep\nargs: ["600"]\ncount: 2\n',
    fileName: 'web.yaml',
  });

  const browser: Browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  cleanups.push(() => browser.close());
  const page = await browser.newPage();
  await page.setViewport({ width: 1100, height: 900 });

  // Without a session the page only says how to log in; the API refuses the browser.
  await page.goto(`${watcher.api}/ui`);
  await page.waitForSelector('#login:not([hidden])');
  expect(await page.$eval('#state', (e) => e.textContent)).toBe('not logged in');

  const login = await meshctl(['--api', watcher.api, '--data-dir', watcher.dataDir, 'ui', '--print-url']);
  expect(login.code, login.stderr).toBe(0);
  const link = login.stdout.trim();
  expect(link).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/ui\/login\?code=[A-Za-z0-9_-]{43}$/);
  await page.goto(link);
  expect(new URL(page.url()).pathname).toBe('/ui');
  const cookie = (await browser.cookies()).find((c) => c.name === 'mycel_session');
  expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict' });

  const rows = (table: string) =>
    page.$$eval(`${table} tbody tr`, (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
  await waitFor(
    'three devices alive and the job running 2/2',
    async () => {
      const devices = await rows('#devices');
      const jobs = await rows('#jobs');
      return (
        devices.length === 3 &&
        devices.every((d) => d[1] === 'alive') &&
        jobs.some((j) => j[0] === 'web' && j[1] === 'running' && j[3] === '2/2')
      );
    },
    30_000,
  );
  expect((await rows('#devices')).map((d) => d[0])).toEqual(['d0 (this agent)', 'd1', 'd2']);

  // Each running copy is shown under the device the agent says runs it.
  const copies = await apiGet<{ allocId: string; nodeName: string; state: string | null }[]>(
    watcher,
    '/v1/allocs',
  );
  const running = copies.filter((c) => c.state === 'running');
  expect(running).toHaveLength(2);
  for (const c of running)
    expect(
      await page.$(`#copies section[data-node="${c.nodeName}"] li[data-alloc="${c.allocId}"]`),
    ).not.toBeNull();
  await waitFor('the events list', async () => (await page.$$('#events li')).length > 0);

  await mkdir(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true });

  // Live: the stopped agent's row changes without a reload.
  await stopMeshd(leaver);
  await waitFor(
    'the stopped agent no longer alive on the page',
    async () => {
      const row = (await rows('#devices')).find((d) => d[0] === 'd2');
      return row !== undefined && row[1] !== 'alive';
    },
    15_000,
  );

  // The session is read-only, and a login link works once.
  const post = await page.evaluate(async () => (await fetch('/v1/jobs/web', { method: 'DELETE' })).status);
  expect(post).toBe(401);
  const again = await page.goto(link);
  expect(again?.status()).toBe(401);
}, 120_000);
