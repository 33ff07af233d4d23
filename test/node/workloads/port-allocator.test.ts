/** Dynamic ports: no two copies share one, a bound port is never handed out, the range runs out loudly. */
import { createServer, type Server } from 'node:net';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import {
  bindProbe,
  PortAllocator,
  PortRangeExhausted,
  parsePortRange,
} from '../../../src/node/workloads/port-allocator.js';

const free = async () => true;
const http = [{ name: 'http', protocol: 'tcp' as const }];

describe('port allocator', () => {
  it('gives copies different ports, and each keeps its own on a second claim (a restart)', async () => {
    const ports = new PortAllocator({ from: 20_000, to: 20_009 }, free, () => 0);
    const a = await ports.claim('a', http);
    const b = await ports.claim('b', http);
    expect(a.http).not.toBe(b.http);
    expect(await ports.claim('a', http)).toEqual(a);
    expect(ports.ports('b')).toEqual(b);
  });

  it('never hands out one port twice, however claims interleave and copies end (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 7 }), fc.integer({ min: 1, max: 3 })), {
          maxLength: 80,
        }),
        fc.double({ min: 0, max: 0.999, noNaN: true }),
        async (steps, start) => {
          const ports = new PortAllocator({ from: 30_000, to: 30_005 }, free, () => start);
          const live = new Set<string>();
          for (const [claim, copy, count] of steps) {
            const id = `c${copy}`;
            if (!claim) {
              ports.release(id);
              live.delete(id);
              continue;
            }
            const wanted = Array.from({ length: count }, (_, i) => ({
              name: `p${i}`,
              protocol: 'tcp' as const,
            }));
            await ports.claim(id, wanted).catch((err: unknown) => {
              if (!(err instanceof PortRangeExhausted)) throw err;
            });
            live.add(id);
          }
          const all = [...live].flatMap((id) => Object.values(ports.ports(id)));
          expect(new Set(all).size).toBe(all.length);
          for (const p of all) expect(p >= 30_000 && p <= 30_005).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('does not hand out a port another copy holds as a static port', async () => {
    const ports = new PortAllocator({ from: 20_000, to: 20_001 }, free, () => 0);
    await ports.claim('static', [{ name: 'web', host: 20_000, protocol: 'tcp' }]);
    expect(await ports.claim('dyn', http)).toEqual({ http: 20_001 });
  });

  it('says the range is exhausted, and a released copy gives its port back', async () => {
    const ports = new PortAllocator({ from: 20_000, to: 20_001 }, free, () => 0);
    await ports.claim('a', http);
    await ports.claim('b', http);
    await expect(ports.claim('c', http)).rejects.toThrow(
      /no free port left in this device's range 20000-20001/,
    );
    ports.release('a');
    expect(await ports.claim('c', http)).toEqual({ http: 20_000 });
    expect(ports.ports('a')).toEqual({});
  });

  it('two claims at once never get one port, even while probes are slow', async () => {
    const slow = () => new Promise<boolean>((resolve) => setTimeout(() => resolve(true), 5));
    const ports = new PortAllocator({ from: 20_000, to: 20_001 }, slow, () => 0);
    const [a, b] = await Promise.all([ports.claim('a', http), ports.claim('b', http)]);
    expect(new Set([a.http, b.http])).toEqual(new Set([20_000, 20_001]));
  });

  it('keeps a recorded port when it is free, and an adopted copy holds its recorded port unprobed', async () => {
    const probed: number[] = [];
    const probe = async (port: number) => {
      probed.push(port);
      return true;
    };
    const ports = new PortAllocator({ from: 20_000, to: 20_099 }, probe, () => 0);
    ports.adopt('old', http, { http: 20_050 });
    expect(probed).toEqual([]);
    expect(await ports.claim('new', http, { http: 20_050 })).not.toEqual({ http: 20_050 });
    expect(await ports.claim('again', http, { http: 20_070 })).toEqual({ http: 20_070 });
    expect(await ports.claim('old', http)).toEqual({ http: 20_050 });
  });

  it('parses --port-range', () => {
    expect(parsePortRange('20000-32000')).toEqual({ from: 20_000, to: 32_000 });
  });
});

describe('bind probe', () => {
  let server: Server | undefined;
  afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

  it('sees a port something on the host listens on, on loopback only', async () => {
    server = createServer();
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    expect(await bindProbe(port, 'tcp')).toBe(false);
    const ports = new PortAllocator({ from: port, to: port + 1 }, bindProbe, () => 0);
    const got = await ports.claim('a', http).catch(() => undefined);
    expect(got?.http).not.toBe(port);
  });
});
