import { lpStream } from '@libp2p/utils';
import { pino } from 'pino';
import { afterEach, expect, test } from 'vitest';
import type { LogLine } from '../../../src/node/drivers/driver.js';
import {
  decodeFrame,
  encodeLine,
  encodeRequest,
  type LogRequest,
} from '../../../src/node/logs/alloc-logs-frames.js';
import {
  ALLOC_LOGS_PROTOCOL,
  AllocLogsError,
  type AllocLogsOptions,
  AllocLogsProtocol,
} from '../../../src/node/logs/alloc-logs-protocol.js';
import { waitFor } from '../../support/agents.js';
import { loopbackHosts } from '../../support/hosts.js';

/**
 * The protocol between two real libp2p hosts over loopback. The owner's log source is a feed the test writes
 * to, standing in for a driver, so each test controls exactly what exists and when lines appear.
 */
const hosts = loopbackHosts();
afterEach(hosts.stopAll);
const host = () => hosts.host();

/** A log the test appends to; tracks the readers that are open, and whether their abort reached them. */
class Feed {
  readonly lines: LogLine[] = [];
  /** Lines handed to the protocol so far, over all readers. */
  served = 0;
  open = 0;
  aborted = 0;
  #wake: (() => void) | undefined;

  push(...lines: string[]): void {
    for (const line of lines) this.lines.push({ stream: 'stdout', line });
    this.#wake?.();
  }

  async *read(request: LogRequest, signal: AbortSignal): AsyncGenerator<LogLine> {
    this.open++;
    try {
      let next = request.tail === undefined ? 0 : Math.max(0, this.lines.length - request.tail);
      while (true) {
        while (next < this.lines.length) {
          const line = this.lines[next++]!;
          if (line.line === 'BOOM') throw new Error('the engine went away');
          this.served++;
          yield line;
        }
        if (!request.follow || signal.aborted) return;
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
          signal.addEventListener('abort', () => resolve(), { once: true });
        });
        if (signal.aborted) {
          this.aborted++;
          return;
        }
      }
    } finally {
      this.open--;
    }
  }
}

async function pair(options: Partial<AllocLogsOptions> = {}, log = pino({ level: 'silent' })) {
  const [owner, asker] = [await host(), await host()];
  const feed = new Feed();
  const serving = new AllocLogsProtocol(
    {
      host: owner,
      log,
      local: async (request, signal) => {
        if (request.allocId !== 'web.0.1.aaaa')
          throw new AllocLogsError('not-found', 'no such workload here');
        return feed.read(request, signal);
      },
    },
    options,
  );
  await serving.start();
  const asking = new AllocLogsProtocol(
    { host: asker, log, local: () => Promise.reject(new Error('unused')) },
    options,
  );
  await asker.dial(owner.getMultiaddrs()[0]!);
  return { owner, asker, feed, serving, asking, ownerId: owner.peerId.toString() };
}

const request = (over: Partial<LogRequest> = {}): LogRequest => ({
  allocId: 'web.0.1.aaaa',
  follow: false,
  ...over,
});

async function collect(lines: AsyncIterable<LogLine>): Promise<string[]> {
  const out: string[] = [];
  for await (const { line } of lines) out.push(line);
  return out;
}

test('tail, then end; a long multi-byte line arrives in pieces that join to it; refusals before any line', async () => {
  const { feed, asking, ownerId } = await pair();
  const long = 'ü✓'.repeat(20_000);
  feed.push('one', 'two', long, 'three');
  const tail = await collect(await asking.open(ownerId, request({ tail: 2 })));
  expect(tail.at(-1)).toBe('three');
  const pieces = tail.slice(0, -1);
  expect(pieces.join('')).toBe(long);
  // 100 000 bytes of text in frames of at most 16 KiB.
  expect(pieces).toHaveLength(7);
  expect(await collect(await asking.open(ownerId, request()))).toEqual(['one', 'two', ...pieces, 'three']);

  await expect(asking.open(ownerId, request({ allocId: 'other.0.1.bbbb' }))).rejects.toMatchObject({
    code: 'not-found',
    message: 'no such workload here',
  });
});

test('a reader failing mid-stream reaches the asker as the last frame, after the lines before it', async () => {
  const { feed, asking, ownerId, serving } = await pair();
  feed.push('fine', 'BOOM', 'never');
  const seen: string[] = [];
  const failed = (async () => {
    for await (const { line } of await asking.open(ownerId, request())) seen.push(line);
  })();
  await expect(failed).rejects.toMatchObject({ code: 'failed', message: 'the engine went away' });
  expect(seen).toEqual(['fine']);
  await waitFor('the session to end', () => serving.sessions().size === 0);
});

test('a follow gets lines written after it started; the asker leaving stops the owner reading', async () => {
  const { feed, asking, serving, ownerId } = await pair();
  feed.push('before');
  const abort = new AbortController();
  const lines = await asking.open(ownerId, request({ follow: true }), abort.signal);
  const seen: string[] = [];
  const reading = (async () => {
    for await (const { line } of lines) {
      seen.push(line);
      if (line === 'before') feed.push('after');
    }
  })();
  await waitFor('the line written during the follow', () => seen.includes('after'));
  expect(seen).toEqual(['before', 'after']);
  expect(serving.sessions().size).toBe(1);
  abort.abort();
  await reading;
  await waitFor('the owner to stop its reader', () => feed.open === 0 && serving.sessions().size === 0);
  expect(feed.aborted).toBe(1);
});

test('quiet follows stay open on keepalives; a silent owner is an idle timeout; a mute one a connect timeout', async () => {
  const { feed, asking, ownerId, asker } = await pair({ keepaliveMs: 100, idleTimeoutMs: 1_000 });
  const abort = new AbortController();
  const quiet = await asking.open(ownerId, request({ follow: true }), abort.signal);
  const seen: string[] = [];
  const got = (async () => {
    for await (const { line } of quiet) seen.push(line);
  })();
  await new Promise((r) => setTimeout(r, 2_000));
  feed.push('still here');
  await waitFor('the line after 2 s of silence', () => seen.length === 1);
  abort.abort();
  await got;
  expect(seen).toEqual(['still here']);

  // An impostor owner that accepts and then says nothing, and one that never answers at all.
  const impostor = await host();
  await impostor.handle(ALLOC_LOGS_PROTOCOL, async (stream) => {
    const lp = lpStream(stream);
    const req = await lp.read();
    if (new TextDecoder().decode(req.subarray()).includes('"mute"')) return;
    await lp.write(Uint8Array.of(1));
  });
  await asker.dial(impostor.getMultiaddrs()[0]!);
  const impatient = (options: Partial<AllocLogsOptions>) =>
    new AllocLogsProtocol(
      { host: asker, log: pino({ level: 'silent' }), local: () => Promise.reject(new Error('unused')) },
      options,
    );
  const silent = await impatient({ idleTimeoutMs: 300 }).open(
    impostor.peerId.toString(),
    request({ follow: true }),
  );
  await expect(collect(silent)).rejects.toMatchObject({
    code: 'timeout',
    message: /nothing from the owner for 300 ms/,
  });
  const fast = impatient({ connectTimeoutMs: 300 });
  await expect(fast.open(impostor.peerId.toString(), request({ allocId: 'mute' }))).rejects.toMatchObject({
    code: 'timeout',
    message: /no answer within 300 ms/,
  });
});

test('hostile owner frames end the session with a protocol error: malformed, or over the frame cap', async () => {
  const { asker } = await pair();
  const impostor = await host();
  await impostor.handle(ALLOC_LOGS_PROTOCOL, async (stream) => {
    const lp = lpStream(stream);
    const req = new TextDecoder().decode((await lp.read()).subarray());
    await lp.write(Uint8Array.of(1));
    if (req.includes('"big"')) {
      // A length prefix of 1 MiB: refused from the prefix, before the body is buffered.
      stream.send(Uint8Array.of(0x80, 0x80, 0x40, 2, 1, 65));
    } else {
      await lp.write(encodeLine({ stream: 'stdout', line: 'fine' })[0]!);
      await lp.write(Uint8Array.of(2, 9, 65));
    }
  });
  await asker.dial(impostor.getMultiaddrs()[0]!);
  const warnings: string[] = [];
  const asking = new AllocLogsProtocol({
    host: asker,
    log: pino({ level: 'warn' }, { write: (l: string) => void warnings.push(l) }),
    local: () => Promise.reject(new Error('unused')),
  });
  const seen: string[] = [];
  const malformed = await asking.open(impostor.peerId.toString(), request({ allocId: 'bad' }));
  await expect(
    (async () => {
      for await (const { line } of malformed) seen.push(line);
    })(),
  ).rejects.toMatchObject({ code: 'protocol', message: /malformed frame \(line frame without a stream\)/ });
  expect(seen).toEqual(['fine']);
  expect(warnings.join()).toMatch(/dropped a malformed frame/);
  const big = await asking.open(impostor.peerId.toString(), request({ allocId: 'big' }));
  await expect(collect(big)).rejects.toMatchObject({ code: 'protocol', message: /oversized frame/ });
});

test('hostile requests are dropped and logged; the owner keeps serving', async () => {
  const warnings: string[] = [];
  const log = pino({ level: 'warn' }, { write: (l: string) => void warnings.push(l) });
  const { asker, owner, feed, asking, ownerId } = await pair({}, log);
  feed.push('ok');

  const raw = await asker.dialProtocol(owner.peerId, ALLOC_LOGS_PROTOCOL);
  const lp = lpStream(raw);
  await lp.write(new TextEncoder().encode('{"allocId":"../../etc","follow":false}'));
  const answer = decodeFrame((await lp.read()).subarray());
  expect(answer).toMatchObject({
    ok: true,
    value: { kind: 'error', code: 'bad-request', message: /allocId/ },
  });

  // A request whose length prefix says 64 MiB: refused from the prefix alone.
  const huge = await asker.dialProtocol(owner.peerId, ALLOC_LOGS_PROTOCOL);
  huge.send(Uint8Array.of(0x80, 0x80, 0x80, 0x20, ...encodeRequest(request())));
  await waitFor('the refusal to be logged', () => warnings.some((w) => /no usable request/.test(w)));
  expect(warnings.join()).toMatch(/dropped a bad request/);

  expect(await collect(await asking.open(ownerId, request()))).toEqual(['ok']);
});

test('at most N sessions per peer: the next is refused as busy, and admitted once one ends', async () => {
  const { asking, ownerId, feed } = await pair({ maxSessionsPerPeer: 2 });
  const aborts = [new AbortController(), new AbortController()];
  const follows = await Promise.all(
    aborts.map((a) => asking.open(ownerId, request({ follow: true }), a.signal)),
  );
  const drains = follows.map((f) => collect(f));
  const refused = await asking.open(ownerId, request()).catch((err: unknown) => err);
  expect(refused).toBeInstanceOf(AllocLogsError);
  expect(refused).toMatchObject({ code: 'busy', message: /already 2 log streams open to your agent/ });
  aborts[0]!.abort();
  await drains[0];
  await waitFor('the slot to free', () => feed.open === 1);
  feed.push('admitted');
  expect(await collect(await asking.open(ownerId, request()))).toEqual(['admitted']);
  aborts[1]!.abort();
  await drains[1];
});

test('a slow asker holds the owner back (credit) instead of either side buffering the log', async () => {
  const { feed, asking, ownerId } = await pair();
  const line = 'x'.repeat(1_000);
  for (let i = 0; i < 2_000; i++) feed.push(line);
  const lines = await asking.open(ownerId, request());
  for (let i = 0; i < 10; i++) expect((await lines.next()).done).toBe(false);
  // The asker holds its reader without reading on. Give the owner time to run ahead if nothing stopped it.
  await new Promise((r) => setTimeout(r, 1_000));
  // 2 MB of log; what left the owner is one window of credit (256 KiB) and one batch (64 KiB), not the log.
  expect(feed.served).toBeLessThan(400);
  // A reader that keeps up gets all of it, the credit renewed as it goes.
  let read = 10;
  for await (const _ of lines) read++;
  expect(read).toBe(2_000);
  await waitFor('the owner to finish', () => feed.open === 0);
});
