import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import WebSocket from 'ws';
import { type AllocCommand, signAllocCommand } from '../../crdt/alloc-command-auth.js';
import { parseJson } from '../../lib/json-text.js';
import {
  dataFrames,
  decodeExecFrame,
  type ExecRequest,
  encodeExecFrame,
  type FrameChannel,
  MAX_EXEC_FRAME,
  withFirstFrame,
  wsChannel,
} from '../../node/api/client-keys.js';
import type { TrustInfo } from '../../node/api/types.js';
import { CliError } from '../api-client.js';
import { apiToken, type Globals, globals } from '../globals.js';
import { operatorSigner } from '../signing.js';

/** Docker's code for "the command could not be run": refused, unreachable, no such copy. */
const NOT_RUN = 125;
const CONNECT_TIMEOUT_MS = 15_000;

/** `meshctl alloc exec`: the command's output on stdout and stderr, and its exit code as meshctl's. */
export async function runAllocExec(
  cmd: Command,
  allocId: string,
  command: string[],
  options: { stdin: boolean; tty: boolean },
): Promise<void> {
  const tty = options.tty && process.stdout.isTTY === true;
  if (options.tty && !tty) process.stderr.write('meshctl: -t without a terminal on stdout: no TTY\n');
  const size = tty ? { cols: process.stdout.columns, rows: process.stdout.rows } : {};
  const channel = await connect(cmd, allocId, { kind: 'exec', command, tty, stdin: options.stdin, ...size });
  const raw = options.stdin && tty && process.stdin.isTTY === true;
  const onResize = () =>
    void channel
      .write(encodeExecFrame({ kind: 'resize', cols: process.stdout.columns, rows: process.stdout.rows }))
      .catch(() => undefined);
  if (raw) process.stdin.setRawMode(true);
  if (tty) process.stdout.on('resize', onResize);
  try {
    if (options.stdin) void forwardInput(channel);
    const code = await printOutput(channel);
    if (code !== 0) throw new CliError('', code);
  } finally {
    if (raw) process.stdin.setRawMode(false);
    if (tty) process.stdout.off('resize', onResize);
    process.stdin.destroy();
    channel.abort(new Error('done'));
  }
}

/** `meshctl alloc restart`: done once the owner started the copy again. */
export async function runAllocRestart(cmd: Command, allocId: string): Promise<void> {
  const channel = await connect(cmd, allocId, { kind: 'restart', command: [], tty: false, stdin: false });
  try {
    const code = await printOutput(channel);
    if (code !== 0) throw new CliError(`the owner answered ${code}`, NOT_RUN);
    process.stdout.write(`alloc ${allocId} restarted\n`);
  } finally {
    channel.abort(new Error('done'));
  }
}

/** A session with the agent: the request (signed when the mesh is closed) sent, its answer to come. */
async function connect(
  cmd: Command,
  allocId: string,
  ask: Pick<ExecRequest, 'kind' | 'command' | 'tty' | 'stdin' | 'cols' | 'rows'>,
): Promise<FrameChannel> {
  const opts = cmd.optsWithGlobals<Globals>();
  if (opts.remoteToken)
    throw new CliError(
      `alloc ${ask.kind} needs the control API of an agent (it holds a session open): run meshctl on a device of the mesh`,
      2,
    );
  const { client, operatorKey } = globals(cmd);
  const trust = await client.get<TrustInfo>('/v1/trust');
  const command: AllocCommand = {
    kind: ask.kind,
    allocId,
    command: ask.command,
    tty: ask.tty,
    at: Date.now(),
    nonce: randomBytes(16).toString('hex'),
  };
  let auth: ExecRequest['auth'];
  if (trust.closed) {
    const key = await operatorSigner(operatorKey);
    auth = signAllocCommand(command, key.id, key.sign);
  }
  const request: ExecRequest = {
    ...command,
    command: [...command.command],
    stdin: ask.stdin,
    ...(ask.cols && ask.rows ? { cols: ask.cols, rows: ask.rows } : {}),
    ...(auth ? { auth } : {}),
  };
  const ws = await openSocket(opts, `/v1/allocs/${encodeURIComponent(allocId)}/command`);
  const channel = wsChannel(ws);
  await channel.write(encodeExecFrame({ kind: 'request', request }));
  const first = await channel.read({ signal: AbortSignal.timeout(3 * CONNECT_TIMEOUT_MS) }).catch(() => {
    throw new CliError(`no answer from the device that runs ${allocId}`, NOT_RUN);
  });
  if (!first) throw new CliError('the agent closed the session without an answer', NOT_RUN);
  const frame = decodeExecFrame(first);
  if (!frame.ok) throw new CliError(`the agent sent a malformed frame: ${frame.error}`, NOT_RUN);
  if (frame.value.kind === 'error') throw new CliError(frame.value.message, NOT_RUN);
  if (frame.value.kind === 'open') return channel;
  if (frame.value.kind === 'exit' && ask.kind === 'restart') return withFirstFrame(channel, first);
  throw new CliError(`the agent answered ${frame.value.kind} first`, NOT_RUN);
}

async function openSocket(opts: Globals, path: string): Promise<WebSocket> {
  let url: URL;
  try {
    url = new URL(path, opts.api);
  } catch {
    throw new CliError(`--api "${opts.api}" is not a URL; expected something like http://127.0.0.1:7411`, 2);
  }
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  const token = await apiToken(opts);
  const ws = new WebSocket(url, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
    perMessageDeflate: false,
    maxPayload: MAX_EXEC_FRAME,
    handshakeTimeout: CONNECT_TIMEOUT_MS,
  });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => {
        if (body.length < 4096) body += chunk.toString('utf8');
      });
      res.on('end', () => {
        let message = body || `the agent answered ${res.statusCode}`;
        try {
          message = (parseJson(body) as { error?: string }).error ?? message;
        } catch {}
        reject(new CliError(message, NOT_RUN));
      });
    });
    ws.once('error', (err: Error & { code?: string }) =>
      reject(
        new CliError(
          `cannot reach the agent at ${url.origin.replace(/^ws/, 'http')} (${err.code ?? err.message}): is meshd running there? Set --api or MESH_API`,
          NOT_RUN,
        ),
      ),
    );
  });
}

/** Standard input to the command, as fast as it takes it; its end, the command's end of input. */
async function forwardInput(channel: FrameChannel): Promise<void> {
  try {
    for await (const chunk of process.stdin as AsyncIterable<Buffer>)
      for (const frame of dataFrames('stdin', chunk)) await channel.write(frame);
    await channel.write(encodeExecFrame({ kind: 'stdinEnd' }));
  } catch {
    // The session ended first: the output side says how.
  }
}

/** Prints what the command writes, waiting for a full pipe; resolves with its exit code. */
async function printOutput(channel: FrameChannel): Promise<number> {
  while (true) {
    const bytes = await channel.read();
    if (!bytes)
      throw new CliError('the session ended before the command did (agent or device gone?)', NOT_RUN);
    const frame = decodeExecFrame(bytes);
    if (!frame.ok) throw new CliError(`the agent sent a malformed frame: ${frame.error}`, NOT_RUN);
    const f = frame.value;
    if (f.kind === 'exit') return f.code;
    if (f.kind === 'error') throw new CliError(f.message, NOT_RUN);
    if (f.kind !== 'stdout' && f.kind !== 'stderr') continue;
    const out = f.kind === 'stdout' ? process.stdout : process.stderr;
    if (!out.write(f.data)) await new Promise((resolve) => out.once('drain', resolve));
  }
}
