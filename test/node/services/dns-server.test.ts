import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import * as dns from 'dns-packet';
import { afterEach, expect, test } from 'vitest';
import { DnsServer } from '../../../src/node/services/dns-server.js';
import type { CatalogService, ServiceInstance } from '../../../src/node/services/service-catalog.js';

const instance = (n: number, address = `10.0.0.${n}`): ServiceInstance => ({
  allocId: `web.${n}`,
  job: 'web',
  jobVersion: 1,
  node: `peer-${n}`,
  nodeName: `n${n}`,
  address,
  port: 8000 + n,
  protocol: 'tcp',
  health: 'healthy',
  tags: [],
});

const SERVICES: Record<string, CatalogService> = {
  web: { name: 'web', jobs: ['web'], instances: [instance(1), instance(2), instance(3, '2001:db8::3')] },
  idle: { name: 'idle', jobs: ['idle'], instances: [] },
  big: { name: 'big', jobs: ['big'], instances: Array.from({ length: 200 }, (_, i) => instance(i % 250)) },
};

const warnings: unknown[] = [];
const log = { warn: (o: unknown) => warnings.push(o), debug: () => {}, info: () => {} } as never;
let server: DnsServer | undefined;
afterEach(async () => {
  await server?.close();
  warnings.length = 0;
});

async function start(options: { maxPerSecond?: number } = {}) {
  server = await DnsServer.start({
    listen: '127.0.0.1:0',
    lookup: (name) => SERVICES[name],
    log,
    logEveryMs: 0,
    ...options,
  });
  return server.address.port;
}

/** Sends raw bytes, returns the decoded answer or undefined when none came within `waitMs`. */
async function send(port: number, bytes: Buffer, waitMs = 1_000): Promise<dns.DecodedPacket | undefined> {
  const client = createSocket('udp4');
  try {
    client.send(bytes, port, '127.0.0.1');
    const reply = once(client, 'message').then(([msg]) => dns.decode(msg as Buffer));
    const timeout = new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), waitMs));
    return await Promise.race([reply, timeout]);
  } finally {
    client.close();
  }
}

const dataOf = (record: dns.Answer) => (record as { data?: unknown }).data;

const query = (name: string, type: dns.RecordType, extra: Partial<dns.Packet> = {}) =>
  dns.encode({ type: 'query', id: 42, flags: dns.RECURSION_DESIRED, questions: [{ type, name }], ...extra });

test('A, AAAA and SRV for a service; NXDOMAIN for an unknown one; REFUSED outside the zone', async () => {
  const port = await start();
  const a = await send(port, query('web.service.mycel', 'A'));
  expect(a).toMatchObject({ id: 42, rcode: 'NOERROR', flag_aa: true, flag_rd: true });
  expect(a?.answers?.map((r) => dataOf(r))).toEqual(['10.0.0.1', '10.0.0.2']);
  const aaaa = await send(port, query('WEB.service.mycel.', 'AAAA'));
  expect(aaaa?.answers?.map((r) => dataOf(r))).toEqual(['2001:db8::3']);
  const srv = await send(port, query('web.service.mycel', 'SRV'));
  expect(srv?.answers?.map((r) => dataOf(r))).toEqual([
    { priority: 1, weight: 1, port: 8001, target: '0a000001.addr.mycel' },
    { priority: 1, weight: 1, port: 8002, target: '0a000002.addr.mycel' },
    { priority: 1, weight: 1, port: 8003, target: '20010db8000000000000000000000003.addr.mycel' },
  ]);
  expect(srv?.additionals?.map((r) => [r.name, r.type, dataOf(r)])).toEqual([
    ['0a000001.addr.mycel', 'A', '10.0.0.1'],
    ['0a000002.addr.mycel', 'A', '10.0.0.2'],
    ['20010db8000000000000000000000003.addr.mycel', 'AAAA', '2001:db8::3'],
  ]);
  const target = await send(port, query('0a000002.addr.mycel', 'A'));
  expect(target?.answers?.map((r) => dataOf(r))).toEqual(['10.0.0.2']);
  const idle = await send(port, query('idle.service.mycel', 'A'));
  expect(idle).toMatchObject({ rcode: 'NOERROR', answers: [] });
  expect(await send(port, query('db.service.mycel', 'A'))).toMatchObject({ rcode: 'NXDOMAIN', answers: [] });
  expect(await send(port, query('x.web.service.mycel', 'A'))).toMatchObject({ rcode: 'NXDOMAIN' });
  expect(await send(port, query('example.com', 'A'))).toMatchObject({ rcode: 'REFUSED', answers: [] });
  const update = dns.encode({
    type: 'query',
    id: 7,
    flags: 5 << 11,
    questions: [{ type: 'A', name: 'web.service.mycel' }],
  });
  expect(await send(port, update)).toMatchObject({ id: 7, rcode: 'NOTIMP' });
  const two = dns.encode({
    type: 'query',
    id: 8,
    questions: [
      { type: 'A', name: 'a.service.mycel' },
      { type: 'A', name: 'b.service.mycel' },
    ],
  });
  expect(await send(port, two)).toMatchObject({ id: 8, rcode: 'FORMERR' });
});

test('an answer too big for the client is cut to fit and marked truncated; EDNS allows more', async () => {
  const port = await start();
  const plain = await send(port, query('big.service.mycel', 'SRV'));
  expect(plain?.flag_tc).toBe(true);
  expect(dns.encodingLength(plain!)).toBeLessThanOrEqual(512);
  expect(plain?.answers?.length).toBeGreaterThan(5);
  const edns = await send(
    port,
    query('big.service.mycel', 'SRV', {
      additionals: [
        {
          type: 'OPT',
          name: '.',
          udpPayloadSize: 4096,
          extendedRcode: 0,
          ednsVersion: 0,
          flags: 0,
          flag_do: false,
          options: [],
        },
      ],
    }),
  );
  expect(edns?.flag_tc).toBe(true);
  expect(dns.encodingLength(edns!)).toBeLessThanOrEqual(1232);
  expect(edns!.answers!.length).toBeGreaterThan(plain!.answers!.length);
});

test('garbage, oversize packets, responses and floods are dropped and logged; the server keeps answering', async () => {
  const port = await start({ maxPerSecond: 50 });
  expect(await send(port, Buffer.from('not a dns packet at all'), 200)).toBeUndefined();
  expect(await send(port, Buffer.alloc(3), 200)).toBeUndefined();
  expect(await send(port, Buffer.alloc(2_000, 1), 200)).toBeUndefined();
  const truncated = query('web.service.mycel', 'A').subarray(0, 20);
  expect(await send(port, truncated, 200)).toBeUndefined();
  const reflected = dns.encode({
    type: 'response',
    id: 1,
    questions: [{ type: 'A', name: 'web.service.mycel' }],
  });
  expect(await send(port, reflected, 200)).toBeUndefined();
  // A label pointer loop: decoders that follow it forever hang.
  const loop = Buffer.from([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1]);
  expect(await send(port, loop, 200)).toBeUndefined();
  const flood = createSocket('udp4');
  for (let i = 0; i < 300; i++) {
    const junk = Buffer.from(Array.from({ length: 12 + (i % 40) }, (_, j) => (i * 31 + j * 7) & 0xff));
    flood.send(junk, port, '127.0.0.1');
  }
  await new Promise((resolve) => setTimeout(resolve, 1_100));
  flood.close();
  expect(await send(port, query('web.service.mycel', 'A'))).toMatchObject({ rcode: 'NOERROR' });
  const reasons = Object.assign({}, ...warnings.map((w) => (w as { dropped: object }).dropped));
  expect(Object.keys(reasons)).toEqual(
    expect.arrayContaining(['undecodable', 'oversize', 'not-a-query', 'rate']),
  );
});
