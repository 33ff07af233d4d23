import { pino } from 'pino';
import { expect, test } from 'vitest';
import type { ExecSession, OutputChunk } from '../../../src/node/drivers/driver.js';
import {
  decodeExecFrame,
  type ExecRequest,
  encodeExecFrame,
} from '../../../src/node/logs/alloc-exec-frames.js';
import { type AllocExecOptions, AllocExecProtocol } from '../../../src/node/logs/alloc-exec-protocol.js';
import type { FrameChannel } from '../../../src/node/logs/frame-channel.js';

/**
 * The owner's side of alloc exec, on an in-memory channel with a scripted session: the limits (sessions in all,
 * idle time, bad frames) and a client that goes away all end the command, and each outcome is audited.
 */
const SELF = 'owner-peer';
const ALLOC = 'web.0.1.abcd';

/** One end of a pair of channels: what the owner reads is what the test writes, and back. */
function pair(): {
  owner: FrameChannel;
  client: {
    send(f: Uint8Array): void;
    end(): void;
    leave(): void;
    frames: Uint8Array[];
    closed: Promise<void>;
  };
} {
  const inbox: Uint8Array[] = [];
  let ended = false;
  let wake = () => {};
  const gone = new AbortController();
  const frames: Uint8Array[] = [];
  let closedResolve = () => {};
  const closed = new Promise<void>((r) => (closedResolve = r));
  const owner: FrameChannel = {
    async read(options) {
      while (inbox.length === 0) {
        if (ended || gone.signal.aborted) return undefined;
        options?.signal?.throwIfAborted();
        await new Promise<void>((resolve) => {
          wake = resolve;
          options?.signal?.addEventListener('abort', () => resolve(), { once: true });
        });
      }
      return inbox.shift();
    },
    async write(frame) {
      if (gone.signal.aborted) throw new Error('gone');
      frames.push(frame);
    },
    async close() {
      closedResolve();
    },
    abort(error) {
      gone.abort(error);
      closedResolve();
      wake();
    },
    gone: gone.signal,
  };
  return {
    owner,
    client: {
      send: (f) => {
        inbox.push(f);
        wake();
      },
      end: () => {
        ended = true;
        wake();
      },
      leave: () => {
        gone.abort(new Error('the client left'));
        wake();
      },
      frames,
      closed,
    },
  };
}

/** A command that prints once, then waits until killed or (unless told not to) its input ends. */
function scripted(endsWithInput = true) {
  const state = { killed: false, input: [] as string[], resized: [] as number[][] };
  let finish = () => {};
  const done = new Promise<void>((r) => (finish = r));
  const session: ExecSession = {
    output: (async function* (): AsyncGenerator<OutputChunk> {
      yield { stream: 'stdout', data: new TextEncoder().encode('hello') };
      await done;
    })(),
    write: async (data) => {
      state.input.push(new TextDecoder().decode(data));
    },
    endInput: () => {
      if (endsWithInput) finish();
    },
    resize: async (cols, rows) => {
      state.resized.push([cols, rows]);
    },
    exitCode: async () => (state.killed ? 137 : 0),
    kill: async () => {
      state.killed = true;
      finish();
    },
  };
  return { session, state };
}

function protocol(options: Partial<AllocExecOptions>, session: () => ExecSession) {
  const audit: Record<string, unknown>[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => audit.push(JSON.parse(line)) });
  const p = new AllocExecProtocol(
    {
      self: SELF,
      host: {} as never,
      log,
      now: Date.now,
      view: {
        allocations: () => [{ allocId: ALLOC, node: SELF } as never],
        nodes: () => [],
        placedOn: () => undefined,
      },
      operators: () => undefined,
      session: async () => session(),
      restart: async () => undefined,
    },
    options,
  );
  return { p, audit };
}

const request = (over: Partial<ExecRequest> = {}) =>
  encodeExecFrame({
    kind: 'request',
    request: {
      kind: 'exec',
      allocId: ALLOC,
      command: ['cat'],
      tty: false,
      stdin: true,
      at: 1,
      nonce: 'n'.repeat(16),
      ...over,
    },
  });
const kinds = (frames: Uint8Array[]) =>
  frames.map((f) => {
    const d = decodeExecFrame(f);
    return d.ok ? d.value : { kind: 'malformed' };
  });
const until = async (check: () => boolean) => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(check()).toBe(true);
};

test('input goes to the command; its end ends it; the exit code is answered and audited', async () => {
  const { session, state } = scripted();
  const { p, audit } = protocol({}, () => session);
  const { owner, client } = pair();
  client.send(request());
  client.send(encodeExecFrame({ kind: 'stdin', data: new TextEncoder().encode('secret-input') }));
  client.send(encodeExecFrame({ kind: 'resize', cols: 80, rows: 24 }));
  client.send(encodeExecFrame({ kind: 'stdinEnd' }));
  await p.serve(owner, 'peer-1');
  expect(kinds(client.frames)).toEqual([
    { kind: 'open' },
    { kind: 'stdout', data: new TextEncoder().encode('hello') },
    { kind: 'exit', code: 0 },
  ]);
  expect(state).toMatchObject({ killed: false, input: ['secret-input'], resized: [[80, 24]] });
  expect(audit).toContainEqual(
    expect.objectContaining({ audit: 'alloc exec', command: ['cat'], exitCode: 0, via: 'peer-1' }),
  );
  expect(JSON.stringify(audit)).not.toContain('secret-input');
});

test('a client that goes away kills the command', async () => {
  const { session, state } = scripted(false);
  const { p, audit } = protocol({}, () => session);
  const { owner, client } = pair();
  client.send(request());
  const served = p.serve(owner, 'peer-1');
  await until(() => client.frames.length >= 2);
  expect(p.sessions).toBe(1);
  client.leave();
  await served;
  expect(state.killed).toBe(true);
  expect(p.sessions).toBe(0);
  expect(audit).toContainEqual(expect.objectContaining({ audit: 'alloc exec', killed: expect.any(String) }));
});

test('nothing either way for the idle time: the command is killed and the client told', async () => {
  const { session, state } = scripted();
  const { p } = protocol({ idleTimeoutMs: 150 }, () => session);
  const { owner, client } = pair();
  client.send(request());
  await p.serve(owner, 'peer-1');
  expect(state.killed).toBe(true);
  expect(kinds(client.frames).at(-1)).toMatchObject({ kind: 'error', code: 'timeout' });
});

test('past the session limit a request is refused as busy; a bad frame ends the session', async () => {
  const first = scripted();
  const { p } = protocol({ maxSessions: 1 }, () => first.session);
  const a = pair();
  a.client.send(request());
  const served = p.serve(a.owner, 'peer-1');
  await until(() => a.client.frames.length >= 2);
  const b = pair();
  b.client.send(request());
  await p.serve(b.owner, 'peer-2');
  expect(kinds(b.client.frames)).toEqual([
    { kind: 'error', code: 'busy', message: expect.stringMatching(/limit/) },
  ]);
  a.client.send(encodeExecFrame({ kind: 'exit', code: 1 }));
  await served;
  expect(first.state.killed).toBe(true);
});

test('a copy this node does not run, and a malformed request, are refused', async () => {
  const { p } = protocol({}, () => scripted().session);
  const other = pair();
  other.client.send(request({ allocId: 'other.0.1.abcd' }));
  await p.serve(other.owner, 'peer-1');
  expect(kinds(other.client.frames)).toEqual([
    { kind: 'error', code: 'not-found', message: 'no allocation "other.0.1.abcd"' },
  ]);
  const bad = pair();
  bad.client.send(Uint8Array.of(1, 0x7b));
  await p.serve(bad.owner, 'peer-1');
  expect(kinds(bad.client.frames)).toEqual([
    { kind: 'error', code: 'bad-request', message: 'request is not JSON' },
  ]);
});
