/**
 * An operator's command in a copy's container (`meshctl alloc exec`): a Docker exec, attached over a hijacked
 * connection, with the container's own user, directory and environment. Without a TTY the engine multiplexes
 * stdout and stderr; with one, output is a single stream and a resize goes to the exec. The engine has no call
 * that kills an exec, so a kill signals its process (the engine reports its host pid) and what it started.
 */
import type { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type Docker from 'dockerode';
import { demuxFrames } from './docker-log-frames.js';
import type { ExecSession, OutputChunk, SessionOptions } from './driver.js';
import { killTree } from './process-session.js';

export async function dockerSession(
  container: Docker.Container,
  command: readonly string[],
  options: SessionOptions,
  abortSignal: AbortSignal,
): Promise<ExecSession> {
  const size: [number, number] | undefined =
    options.tty && options.cols && options.rows ? [options.rows, options.cols] : undefined;
  const exec = await container.exec({
    Cmd: [...command],
    AttachStdin: options.stdin,
    AttachStdout: true,
    AttachStderr: true,
    Tty: options.tty,
    ...(size ? { ConsoleSize: size } : {}),
    abortSignal,
  });
  // No deadline on the attach itself: the connection is the session, and a signal would end it later.
  const socket = (await exec.start({ hijack: true, stdin: options.stdin, Tty: options.tty })) as Duplex;
  socket.on('error', () => {});
  const output: AsyncIterable<OutputChunk> = options.tty
    ? (async function* () {
        for await (const data of socket as AsyncIterable<Buffer>) yield { stream: 'stdout' as const, data };
      })()
    : demuxFrames(socket as AsyncIterable<Buffer>);
  const info = () => exec.inspect();
  return {
    output,
    write: (data) =>
      new Promise((resolve) => {
        if (socket.destroyed || socket.writableEnded || socket.write(data)) return resolve();
        const done = () => {
          socket.off('drain', done);
          socket.off('close', done);
          resolve();
        };
        socket.on('drain', done);
        socket.on('close', done);
      }),
    endInput: () => {
      if (!socket.destroyed) socket.end();
    },
    resize: async (cols, rows) => {
      if (options.tty) await exec.resize({ h: rows, w: cols }).catch(() => undefined);
    },
    exitCode: async () => {
      // The output ends a moment before the engine records the code.
      for (let i = 0; i < 100; i++) {
        const state = await info();
        if (!state.Running) return state.ExitCode ?? 1;
        await sleep(50);
      }
      return 1;
    },
    kill: async () => {
      const state = await info().catch(() => undefined);
      if (state?.Running && state.Pid > 0) killTree(state.Pid);
      socket.destroy();
    },
  };
}
