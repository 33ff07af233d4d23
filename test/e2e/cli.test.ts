import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { tempDir, waitFor } from '../support/agents.js';
import { connectDocker } from '../support/docker.js';
import { bundle, exited, meshctl, spawnMeshd } from '../support/processes.js';

beforeAll(bundle, 60_000);

describe('meshctl', () => {
  test('against no agent: one clear line on stderr and a non-zero exit', async () => {
    const result = await meshctl(['--api', 'http://127.0.0.1:9', 'status']);
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/cannot reach the agent at http:\/\/127\.0\.0\.1:9 .*is meshd running/);
  });

  test('a bad command or option: usage error and exit 2; --help exits 0', async () => {
    const bad = await meshctl(['frobnicate']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/unknown command 'frobnicate'/);
    expect((await meshctl(['-o', 'xml', 'status'])).code).toBe(2);
    const help = await meshctl(['peers', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Usage: meshctl peers/);
  });
});

describe('meshd as a process', () => {
  const dirs: (() => Promise<void>)[] = [];
  afterAll(() => Promise.all(dirs.map((d) => d())));

  test('settings resolve flag > env > file > default; SIGTERM stops it cleanly', async () => {
    const tmp = await tempDir();
    dirs.push(tmp.cleanup);
    const configFile = join(tmp.path, 'meshd.yaml');
    await writeFile(
      configFile,
      [
        `data-dir: ${join(tmp.path, 'data')}`,
        'listen: [/ip4/127.0.0.1/tcp/0]',
        'api: 127.0.0.1:7490',
        'name: from-file',
        'labels: { zone: from-file, rack: r1 }',
        'log-level: info',
      ].join('\n'),
    );
    const agent = spawnMeshd(['--config', configFile, '--name', 'from-flag'], {
      MESH_NAME: 'from-env',
      MESH_LABELS: 'zone=from-env',
      MESH_LOG_LEVEL: 'debug',
    });
    try {
      const api = ['--api', 'http://127.0.0.1:7490', '--data-dir', join(tmp.path, 'data'), '-o', 'json'];
      await waitFor('the agent API', async () => (await meshctl([...api, 'status'])).code === 0);
      const status = JSON.parse((await meshctl([...api, 'status'])).stdout);
      expect(status.name).toBe('from-flag'); // flag beats env and file
      expect(status.labels).toEqual({ zone: 'from-env' }); // env beats file (a whole setting, not merged)
      expect(status.addresses[0]).toMatch(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\//); // file beats default
      expect(agent.output()).toMatch(/"level":20/); // env log level (debug) beats the file's info
      const table = await meshctl(['--api', 'http://127.0.0.1:7490', 'status'], {
        MESH_DATA_DIR: join(tmp.path, 'data'),
      });
      expect(table.stdout).toMatch(/^Peer ID: +12D3Koo/m);
    } finally {
      agent.kill('SIGTERM');
    }
    expect(await exited(agent)).toBe(0);
    expect(agent.output()).toMatch(/"msg":"agent stopped"/);
  });

  test('refuses a non-loopback control API unless allowed, and bad settings with exit 2', async () => {
    const tmp = await tempDir();
    dirs.push(tmp.cleanup);
    const remote = spawnMeshd([
      '--data-dir',
      tmp.path,
      '--listen',
      '/ip4/127.0.0.1/tcp/0',
      '--api',
      '0.0.0.0:7491',
    ]);
    expect(await exited(remote)).toBe(1);
    expect(remote.output()).toMatch(/not a loopback address.*--allow-remote-api/);

    const bad = spawnMeshd(['--data-dir', tmp.path, '--listen', 'tcp://4001']);
    expect(await exited(bad)).toBe(2);
    expect(bad.output()).toMatch(/--listen \/ MESH_LISTEN \(0\): expected a TCP multiaddr/);
  });

  test('a --config that is a device, a FIFO or too big is refused at once with exit 2, not read for ever', async () => {
    const tmp = await tempDir();
    dirs.push(tmp.cleanup);
    const fifo = join(tmp.path, 'meshd.fifo');
    execFileSync('mkfifo', [fifo]);
    const big = join(tmp.path, 'big.yaml');
    await writeFile(big, `name: x\n${'#'.repeat(70 * 1024)}\n`);
    for (const [file, message] of [
      [
        '/dev/urandom',
        /--config: \/dev\/urandom is a character device, not a config file: give the path of a YAML/,
      ],
      [fifo, /meshd\.fifo is a FIFO, not a config file/],
      [big, /config file .*big\.yaml is 71 KiB; a config file may be at most 64 KiB/],
    ] as const) {
      const began = Date.now();
      const agent = spawnMeshd(['--config', file, '--data-dir', tmp.path, '--api', '127.0.0.1:0']);
      expect(await exited(agent)).toBe(2);
      expect(agent.output()).toMatch(message);
      expect(Date.now() - began).toBeLessThan(10_000);
    }
  });

  test('a port another process holds: one line naming it and what to change, exit 1', async () => {
    const tmp = await tempDir();
    dirs.push(tmp.cleanup);
    const { createServer } = await import('node:net');
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const port = (holder.address() as { port: number }).port;
    try {
      const p2p = spawnMeshd([
        '--data-dir',
        tmp.path,
        '--listen',
        `/ip4/127.0.0.1/tcp/${port}`,
        '--api',
        '127.0.0.1:0',
      ]);
      expect(await exited(p2p)).toBe(1);
      expect(p2p.output()).toMatch(
        new RegExp(
          `^meshd: cannot listen on /ip4/127\\.0\\.0\\.1/tcp/${port}: another process .*--listen`,
          'm',
        ),
      );
      expect(p2p.output()).not.toMatch(/^\s+at /m);

      const api = spawnMeshd([
        '--data-dir',
        tmp.path,
        '--listen',
        '/ip4/127.0.0.1/tcp/0',
        '--api',
        `127.0.0.1:${port}`,
      ]);
      expect(await exited(api)).toBe(1);
      expect(api.output()).toMatch(
        new RegExp(
          `^meshd: cannot serve the control API on 127\\.0\\.0\\.1:${port}: another process .*--api`,
          'm',
        ),
      );
      expect(api.output()).not.toMatch(/^\s+at /m);
    } finally {
      holder.close();
    }
  });

  test('npm run demo: five agents, a job on three of them in Docker, one agent stopped and its copy replaced', async () => {
    const tmp = await tempDir();
    dirs.push(tmp.cleanup);
    const { spawn } = await import('node:child_process');
    const { ROOT } = await import('../support/processes.js');
    // Ports base..base+4 and base+100..base+104; a random base keeps concurrent runs on one machine apart. Below
    // the kernel's ephemeral range: every test's outbound connection and tcp/0 listener takes a port from it, and
    // one CI run lost the demo to a port taken that way (2026-11-22).
    const [ephemeralLow] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/);
    const base = 10_000 + Math.floor(Math.random() * Math.max(0, Number(ephemeralLow) - 10_105));
    const demo = spawn(process.execPath, [join(ROOT, 'scripts/demo.mjs'), '--exit'], {
      env: { ...process.env, MESH_DEMO_DIR: tmp.path, MESH_DEMO_PORT: String(base) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    demo.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    demo.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    expect(await exited(demo), out).toBe(0);
    // Tests always have a Docker Engine, so the demo must have chosen containers.
    expect(out).toMatch(/^driver: docker \(a Docker Engine answers on /m);
    const peerRows = out.split('\n').filter((line) => /^edge-\d +12D3Ko\S+ +alive /.test(line));
    expect(peerRows, out).toHaveLength(4);
    // The job was placed by every agent and runs on three of them; `alloc list` shows three distinct nodes.
    expect(out).toMatch(/job "demo-worker" version 1 submitted/);
    const runRows = out
      .split('\n')
      .filter((line) =>
        /^demo-worker\.\d\.\d\.\w+ +demo-worker +1 +edge-\d +run +(not reported|pending|starting|running)$/.test(
          line,
        ),
      );
    expect(runRows, out).toHaveLength(3);
    expect(new Set(runRows.map((row) => row.split(/ +/)[3])).size).toBe(3);

    // Who ran what before and after, in containers: `  <alloc>  on <agent>  (container <id>)`.
    const copies = (section: string) => {
      const lines = out.slice(out.indexOf(section)).split('\n').slice(1, 4);
      return lines.map((line) => {
        const m = /^ {2}(demo-worker\.(\d)\.(\d+)\.\w+) {2}on (edge-\d) {2}\(container (\w{12})\)$/.exec(
          line,
        );
        expect(m, out).not.toBeNull();
        return { alloc: m![1]!, slot: m![2]!, generation: Number(m![3]), node: m![4]!, container: m![5]! };
      });
    };
    const before = copies('before: three copies');
    expect(new Set(before.map((c) => c.node)).size).toBe(3);
    const stop = /^stopping (edge-\d), which runs (\S+)\.\.\.$/m.exec(out);
    expect(stop, out).not.toBeNull();
    const [, stopped, lostAlloc] = stop!;
    expect(before.find((c) => c.alloc === lostAlloc)?.node).toBe(stopped);

    // The replacement actually ran: same slot, next generation, on a surviving agent, which reports it running.
    const replaced =
      /^replacement: (\S+) started on (edge-\d) \(replaces (\S+) of (edge-\d)\) ([\d.]+) s after/m.exec(out);
    expect(replaced, out).not.toBeNull();
    const [, newAlloc, newNode, oldAlloc, oldNode] = replaced!;
    expect([oldAlloc, oldNode]).toEqual([lostAlloc, stopped]);
    expect(newNode).not.toBe(stopped);
    const lost = before.find((c) => c.alloc === lostAlloc)!;
    expect(newAlloc).toMatch(new RegExp(`^demo-worker\\.${lost.slot}\\.${lost.generation + 1}\\.`));
    const after = copies('after: three copies');
    expect(after.map((c) => c.node)).not.toContain(stopped);
    expect(after.find((c) => c.alloc === newAlloc)?.node).toBe(newNode);
    const status = out.slice(out.indexOf(`alloc status ${newAlloc}`));
    expect(status).toMatch(new RegExp(`^Node: +${newNode} `, 'm'));
    expect(status).toMatch(/^State: +running$/m);
    expect(status).toMatch(/ago +started +docker \w{64}$/m);

    // Everything stops, and no container of the demo survives it, not even the stopped agent's.
    expect(out).toMatch(
      new RegExp(`^removed container ${lost.container} that ${stopped} left running$`, 'm'),
    );
    expect(out).toMatch(/all agents stopped cleanly/);
    expect(out).not.toMatch(/did not report stopped/);
    const docker = await connectDocker();
    for (const c of [...before, ...after]) {
      await expect(docker.getContainer(c.container).inspect()).rejects.toMatchObject({ statusCode: 404 });
    }
  }, 240_000);
});
