/**
 * One run of a workload's health check. Never throws: every failure, timeout included, is an unhealthy
 * result with a reason an operator can read. Exec checks run through the caller's function, which for a
 * container is the driver's exec inside it, so this module needs no runtime of its own.
 */
import { connect } from 'node:net';
import type { ExecResult } from '../drivers/driver.js';

export type HealthCheck =
  | { readonly type: 'http'; readonly port: number; readonly path: string; readonly timeoutMs: number }
  | { readonly type: 'tcp'; readonly port: number; readonly timeoutMs: number }
  | { readonly type: 'exec'; readonly command: readonly string[]; readonly timeoutMs: number };

export type CheckResult = { readonly healthy: true } | { readonly healthy: false; readonly reason: string };

export type ExecFn = (command: readonly string[], signal: AbortSignal) => Promise<ExecResult>;

export interface CheckContext {
  /** Where the workload's ports answer; loopback by default. */
  readonly host?: string;
  readonly signal?: AbortSignal;
  /** Required by exec checks. */
  readonly exec?: ExecFn;
}

const HEALTHY: CheckResult = { healthy: true };
const MAX_REASON_OUTPUT = 200;

function unhealthy(reason: string): CheckResult {
  return { healthy: false, reason };
}

function describe(err: unknown, check: HealthCheck, signal: AbortSignal): string {
  if (signal.aborted) {
    const reason: unknown = signal.reason;
    return reason instanceof Error && reason.name === 'TimeoutError'
      ? `no answer within ${check.timeoutMs} ms`
      : 'check cancelled';
  }
  const e = err as { message?: string; cause?: { code?: string; message?: string } };
  return e.cause?.code ?? e.cause?.message ?? e.message ?? String(err);
}

function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

async function httpCheck(check: Extract<HealthCheck, { type: 'http' }>, host: string, signal: AbortSignal) {
  const path = check.path.startsWith('/') ? check.path : `/${check.path}`;
  // A redirect is an answer from a live server; following it could leave the device.
  const response = await fetch(`http://${urlHost(host)}:${check.port}${path}`, {
    signal,
    redirect: 'manual',
  });
  await response.body?.cancel();
  return response.status >= 200 && response.status < 400 ? HEALTHY : unhealthy(`HTTP ${response.status}`);
}

function tcpCheck(check: Extract<HealthCheck, { type: 'tcp' }>, host: string, signal: AbortSignal) {
  return new Promise<CheckResult>((resolve, reject) => {
    const socket = connect({ host, port: check.port, signal });
    socket.once('connect', () => {
      socket.destroy();
      resolve(HEALTHY);
    });
    socket.once('error', reject);
  });
}

async function execCheck(
  check: Extract<HealthCheck, { type: 'exec' }>,
  ctx: CheckContext,
  signal: AbortSignal,
) {
  if (!ctx.exec) return unhealthy('exec checks need the driver to run the command; none was given');
  const result = await Promise.race([
    ctx.exec(check.command, signal),
    // The runtime may not stop waiting on its own (a command stuck inside a container).
    new Promise<never>((_, reject) => {
      if (signal.aborted) reject(signal.reason);
      signal.addEventListener('abort', () => reject(signal.reason), { once: true });
    }),
  ]);
  if (result.exitCode === 0) return HEALTHY;
  const output = result.output.trim().slice(0, MAX_REASON_OUTPUT);
  return unhealthy(`exit code ${result.exitCode}${output ? `: ${output}` : ''}`);
}

export async function runCheck(check: HealthCheck, ctx: CheckContext = {}): Promise<CheckResult> {
  const timeout = AbortSignal.timeout(check.timeoutMs);
  const signal = ctx.signal ? AbortSignal.any([ctx.signal, timeout]) : timeout;
  const host = ctx.host ?? '127.0.0.1';
  try {
    switch (check.type) {
      case 'http':
        return await httpCheck(check, host, signal);
      case 'tcp':
        return await tcpCheck(check, host, signal);
      case 'exec':
        return await execCheck(check, ctx, signal);
    }
  } catch (err) {
    return unhealthy(describe(err, check, signal));
  }
}
