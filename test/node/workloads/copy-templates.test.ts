/** Rendering a copy's templates (copy-templates.ts) on a real file system, with data that changes. */
import { mkdir, readdir, readFile, stat, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type JobSpec, validateJobSpec } from '../../../src/crdt/job-spec.js';
import type { Driver, DriverName } from '../../../src/node/drivers/driver.js';
import { RenderedTemplates, type TemplateDataProvider } from '../../../src/node/workloads/copy-templates.js';
import type { RunningCopy } from '../../../src/node/workloads/runner-context.js';
import { tempDir, waitFor } from '../../support/agents.js';

const selfNode = { name: 'gate-1', labels: { zone: 'north' }, arch: 'arm64', os: 'linux' };
const silent = { info: () => {}, warn: () => {} };

function specWith(templates: unknown[]): JobSpec {
  const result = validateJobSpec({
    name: 'app',
    driver: 'exec',
    command: '/bin/app',
    ports: [{ name: 'http' }],
    templates,
  });
  if (!result.ok) throw new Error(JSON.stringify(result.issues));
  return result.spec;
}

/** Services whose instances the test sets, telling the renderer on every set. */
function services() {
  let instances: { address: string; port: number }[] = [];
  const listeners = new Set<() => void>();
  const provider: TemplateDataProvider = {
    key: 'services',
    read: () => ({ web: instances }),
    onChange: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
  return {
    provider,
    set(next: typeof instances) {
      instances = next;
      for (const l of listeners) l();
    },
  };
}

let root: Awaited<ReturnType<typeof tempDir>>;
let renderer: RenderedTemplates | undefined;
beforeEach(async () => {
  root = await tempDir('mycel-templates-unit-');
});
afterEach(async () => {
  renderer?.close();
  await root.cleanup();
});

function setup(providers: TemplateDataProvider[], debounceMs = 20) {
  const signals: string[] = [];
  const driver = {
    signal: async (_id: string, signal: string) => void signals.push(signal),
  } as unknown as Driver;
  renderer = new RenderedTemplates({
    dataDir: root.path,
    self: 'peer-1',
    selfNode,
    drivers: new Map<DriverName, Driver>([['exec', driver]]),
    providers,
    log: silent,
    debounceMs,
  });
  return { renderer, signals };
}

const WEB = '{{#services.web}}{{address}}:{{port}}\n{{/services.web}}';

describe('rendered templates', () => {
  it('renders the copy values and services into its directory, raw, not HTML-escaped', async () => {
    const data = services();
    data.set([{ address: '10.0.0.2', port: 20_001 }]);
    const { renderer } = setup([data.provider]);
    const spec = specWith([
      {
        destination: 'local/a.conf',
        data: `{{node.name}} {{node.labels.zone}} {{alloc.id}} {{alloc.ports.http}} {{job.name}} <&>\n${WEB}`,
      },
    ]);
    const dir = await renderer.render(
      { allocId: 'app.0.0.aa', jobVersion: 1, spec, driver: 'exec' },
      { http: 20_500 },
    );
    expect(dir).toBe(join(root.path, 'alloc', 'app.0.0.aa'));
    expect(await readFile(join(dir!, 'local', 'a.conf'), 'utf8')).toBe(
      'gate-1 north app.0.0.aa 20500 app <&>\n10.0.0.2:20001\n',
    );
    // A docker copy's go to a directory of their own, which is mounted into its container.
    const docker = await renderer.render(
      { allocId: 'app.0.0.bb', jobVersion: 1, spec, driver: 'docker' },
      {},
    );
    expect(docker).toBe(join(root.path, 'templates', 'app.0.0.bb'));
    await renderer.ended('app.0.0.bb');
    await expect(stat(docker!)).rejects.toThrow();
  });

  it('renders again on a change, writes only a real change, and signals or restarts by changeMode', async () => {
    const data = services();
    const { renderer, signals } = setup([data.provider]);
    const spec = specWith([
      { destination: 'local/hup.txt', data: WEB, changeMode: 'signal', changeSignal: 'SIGHUP' },
      { destination: 'local/quiet.txt', data: 'fixed\n', changeMode: 'restart' },
    ]);
    const copy = { allocId: 'app.0.0.cc', jobVersion: 1, spec, driver: 'exec' as const };
    const dir = (await renderer.render(copy, {}))!;
    const file = join(dir, 'local', 'hup.txt');
    const quiet = (await stat(join(dir, 'local', 'quiet.txt'))).mtimeMs;
    let restarts = 0;
    const running: RunningCopy = { ...copy, ports: {}, current: () => true, restart: () => void restarts++ };
    renderer.follow(running);

    data.set([{ address: '10.0.0.3', port: 20_002 }]);
    await waitFor('a re-render', async () => (await readFile(file, 'utf8')) === '10.0.0.3:20002\n', 5_000);
    await waitFor('the signal', () => signals.length === 1, 5_000);
    expect(signals).toEqual(['SIGHUP']);
    // Same data again: nothing written, nobody signalled.
    data.set([{ address: '10.0.0.3', port: 20_002 }]);
    await new Promise((r) => setTimeout(r, 150));
    expect(signals).toHaveLength(1);
    expect(restarts).toBe(0);
    expect((await stat(join(dir, 'local', 'quiet.txt'))).mtimeMs).toBe(quiet);
    // No half-written temporary files are left behind.
    expect((await readdir(join(dir, 'local'))).sort()).toEqual(['hup.txt', 'quiet.txt']);

    const restartSpec = specWith([{ destination: 'local/r.txt', data: WEB }]);
    const other = { allocId: 'app.0.0.dd', jobVersion: 1, spec: restartSpec, driver: 'exec' as const };
    await renderer.render(other, {});
    renderer.follow({ ...other, ports: {}, current: () => true, restart: () => void restarts++ });
    data.set([]);
    await waitFor('a restart', () => restarts === 1, 5_000);
    // An unfollowed copy is left alone.
    renderer.unfollow('app.0.0.cc');
    data.set([{ address: '10.0.0.9', port: 1 }]);
    await new Promise((r) => setTimeout(r, 150));
    expect(await readFile(file, 'utf8')).toBe('');
    expect(signals).toHaveLength(2);
  });

  it('a stream of changes delays a render only so long', async () => {
    const data = services();
    const { renderer } = setup([data.provider], 200);
    const spec = specWith([{ destination: 'local/s.txt', data: WEB, changeMode: 'noop' }]);
    const copy = { allocId: 'app.0.0.gg', jobVersion: 1, spec, driver: 'exec' as const };
    const file = join((await renderer.render(copy, {}))!, 'local', 's.txt');
    renderer.follow({ ...copy, ports: {}, current: () => true, restart: () => {} });
    let n = 0;
    const stream = setInterval(() => data.set([{ address: '10.0.0.1', port: ++n }]), 5);
    try {
      await waitFor(
        'a render while changes keep coming',
        async () => (await readFile(file, 'utf8')) !== '',
        6_000,
      );
    } finally {
      clearInterval(stream);
    }
  });

  it('refuses to write through a link the copy put in place of its directory', async () => {
    const { renderer } = setup([]);
    const spec = specWith([{ destination: 'local/app.conf', data: 'x' }]);
    const dir = join(root.path, 'alloc', 'app.0.0.ee');
    const outside = join(root.path, 'outside');
    await mkdir(dir, { recursive: true });
    await mkdir(outside);
    await symlink(outside, join(dir, 'local'));
    await expect(
      renderer.render({ allocId: 'app.0.0.ee', jobVersion: 1, spec, driver: 'exec' }, {}),
    ).rejects.toThrow(/leads out of the copy's directory/);
    expect(await readdir(outside)).toEqual([]);
  });

  it('refuses a rendering past the size bound, naming the template', async () => {
    const data = services();
    data.set(
      Array.from({ length: 20_000 }, (_, i) => ({ address: `10.0.${i >> 8}.${i & 255}`, port: 20_000 })),
    );
    const { renderer } = setup([data.provider]);
    const spec = specWith([{ destination: 'local/big.txt', data: WEB }]);
    await expect(
      renderer.render({ allocId: 'app.0.0.ff', jobVersion: 1, spec, driver: 'exec' }, {}),
    ).rejects.toThrow(/template local\/big.txt renders to \d+ bytes, more than 262144/);
  });
});
