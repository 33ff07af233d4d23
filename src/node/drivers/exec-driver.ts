/**
 * Plain child processes, for devices without Docker and for work that is not a container. Each process is
 * started in its own session (it survives the agent), writes straight into its log files (no pipe through the
 * agent, which may be gone), and is remembered in `<dataDir>/alloc/<allocId>/proc.json` by pid and start time
 * (announced by an intent before the spawn: proc-record.ts) so that a restarted agent adopts it instead of
 * starting it twice, and a process that cannot be recorded does not run at all. There are no resource limits
 * without cgroups; the limits are handed to the process as MYCEL_CPU_LIMIT / MYCEL_MEMORY_LIMIT.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { constants } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { portEnvName } from '../../crdt/job-spec-ports.js';
import { copyDir } from './copy-dir.js';
import type {
  CallOptions,
  Driver,
  ExecResult,
  ExecSession,
  ExecTaskSpec,
  LogLine,
  LogOptions,
  SessionOptions,
  StopOptions,
  TaskHandle,
  TaskStats,
} from './driver.js';
import { DriverError } from './driver-error.js';
import { type RunAs, resolveRunAs, setprivArgs } from './exec-run-as.js';
import { linkVolumes } from './exec-volume-links.js';
import { prepareMounts } from './host-mounts.js';
import { readLogFiles } from './log-file-reader.js';
import { DEFAULT_ROTATION, type RotationPolicy, rotateIfOver } from './log-rotation.js';
import {
  CLOCK_TICKS_PER_SECOND,
  formatRef,
  isAlive,
  type ProcIdentity,
  readProcStat,
  readRssBytes,
} from './proc-identity.js';
import {
  LAUNCH_ENV,
  type ProcRecord,
  readRecord,
  recordPath,
  resolveIdentity,
  type StartedRecord,
  writeRecord,
} from './proc-record.js';
import { processSession } from './process-session.js';

export interface ExecDriverOptions {
  /** Peer id of the owning agent. */
  readonly owner: string;
  /** The agent's data directory; processes live under `<dataDir>/alloc/<allocId>/`. */
  readonly dataDir: string;
  /** Host paths jobs may mount (host-mounts.ts). */
  readonly allowHostPath?: readonly string[];
  readonly rotation?: RotationPolicy;
  readonly rotateEveryMs?: number;
  readonly now?: () => number;
}

const SAFE_ALLOC_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const MAX_EXEC_OUTPUT = 64 * 1024;
const POLL_MS = 25;
/** After SIGKILL a process is gone within a scheduler tick; this only bounds a wedged (D-state) one. */
const KILL_WAIT_MS = 5_000;

function identityOf(record: StartedRecord): ProcIdentity {
  return { pid: record.pid, startTime: record.startTime };
}

function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number | undefined {
  if (code !== null) return code;
  // The shell's convention, so "killed by SIGKILL" reads as 137 as it does under Docker.
  return signal === null ? undefined : 128 + constants.signals[signal];
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

async function waitGone(id: ProcIdentity, ms: number): Promise<boolean> {
  const until = performance.now() + ms;
  while (isAlive(id)) {
    if (performance.now() >= until) return false;
    await sleep(POLL_MS);
  }
  return true;
}

export class ExecDriver implements Driver<'exec'> {
  readonly name = 'exec';
  private readonly rotation: RotationPolicy;
  private readonly now: () => number;
  private readonly timer: NodeJS.Timeout;
  /**
   * Processes this instance spawned, by ref: only a parent learns an exit code. `recorded` settles once the
   * code is on disk, so a stop does not race the write.
   */
  private readonly children = new Map<
    string,
    { exited: Promise<number | undefined>; recorded: Promise<void> }
  >();
  private rotationPass: Promise<void> | undefined;

  constructor(private readonly options: ExecDriverOptions) {
    this.rotation = options.rotation ?? DEFAULT_ROTATION;
    this.now = options.now ?? Date.now;
    this.timer = setInterval(() => void this.rotateLogs().catch(() => {}), options.rotateEveryMs ?? 5_000);
    this.timer.unref();
  }

  private dir(allocId: string): string {
    if (!SAFE_ALLOC_ID.test(allocId)) {
      throw new DriverError(
        'invalid-task',
        `alloc id ${JSON.stringify(allocId)} cannot name a directory`,
        'alloc ids must be 1-128 letters, digits, ".", "_" or "-", starting with a letter or digit',
      );
    }
    return copyDir(this.options.dataDir, 'exec', allocId);
  }

  private readRecord(allocId: string): Promise<ProcRecord | undefined> {
    return readRecord(this.dir(allocId), this.options.owner);
  }

  /**
   * The record with its process's identity, or undefined for an intent whose process is gone or never ran:
   * there is nothing to report or stop then, and a start may begin afresh.
   */
  private async started(allocId: string): Promise<StartedRecord | undefined> {
    const record = await this.readRecord(allocId);
    if (!record) return undefined;
    if (record.pid !== undefined && record.startTime !== undefined) return record as StartedRecord;
    const id = resolveIdentity(record);
    if (!id) return undefined;
    const adopted = { ...record, ...id };
    // Best effort: the identity is found again by the launch id if this write fails too.
    await writeRecord(this.dir(allocId), adopted).catch(() => {});
    return adopted;
  }

  private async handleOf(record: StartedRecord): Promise<TaskHandle> {
    const ref = formatRef(identityOf(record));
    const base = {
      allocId: record.allocId,
      job: record.job,
      jobVersion: record.jobVersion,
      driver: 'exec' as const,
      ref,
      startedAt: record.startedAt,
    };
    if (isAlive(identityOf(record))) return { ...base, state: 'running' };
    // The code of a child this driver spawned is reported once it is in the record as well: an agent restart
    // right after the exit is seen (a finished batch copy) must still read it.
    const child = record.exitCode === undefined ? this.children.get(ref) : undefined;
    if (child) await child.recorded;
    const exitCode = record.exitCode ?? (await child?.exited);
    return exitCode === undefined ? { ...base, state: 'exited' } : { ...base, state: 'exited', exitCode };
  }

  async start(task: ExecTaskSpec): Promise<TaskHandle> {
    const dir = this.dir(task.allocId);
    const previous = await this.started(task.allocId);
    if (previous && isAlive(identityOf(previous))) {
      if (previous.jobVersion === task.jobVersion && previous.job === task.job)
        return this.handleOf(previous);
      await this.stop(task.allocId);
    }
    await mkdir(dir, { recursive: true });
    await rm(recordPath(dir), { force: true });
    const runAs = task.user === undefined ? undefined : await resolveRunAs(task.user, task.groupAdd ?? []);
    const { dataDir, allowHostPath = [] } = this.options;
    const owner = runAs && { uid: runAs.uid, gid: runAs.gid, throughDataDir: true };
    const mounts = await prepareMounts(task.job, task.volumes ?? [], {
      dataDir,
      allowHostPath,
      runAs: owner,
    });
    await linkVolumes(dir, mounts);

    // Intent first: a process that cannot be recorded is never started, and one started just before a crash
    // is found again by its launch id instead of being started twice.
    const launch = randomUUID();
    const intent: ProcRecord = {
      allocId: task.allocId,
      job: task.job,
      jobVersion: task.jobVersion,
      owner: this.options.owner,
      launch,
      startedAt: this.now(),
      ...(runAs === undefined ? {} : { runAs: { ...runAs, groups: [...runAs.groups] } }),
    };
    await writeRecord(dir, intent).catch((err: unknown) => {
      throw this.unrecordable(task, err, 'nothing was started');
    });
    const child = this.spawnDetached(task, dir, launch, runAs);
    if (child.pid === undefined) {
      const err = await new Promise<Error>((resolve) => child.once('error', resolve));
      // An intent left behind would make every later list() scan /proc for a process that never was.
      await rm(recordPath(dir), { force: true }).catch(() => {});
      throw new DriverError(
        'start-failed',
        `cannot run ${task.command}: ${err.message}`,
        this.commandHint(),
        {
          cause: err,
        },
      );
    }
    // Read before the event loop turns: until Node reaps the child, /proc/<pid> exists even if it exited.
    const stat = readProcStat(child.pid);
    if (!stat)
      throw new DriverError('start-failed', `process ${child.pid} vanished at start`, this.commandHint());
    const record: StartedRecord = { ...intent, pid: child.pid, startTime: stat.startTime };
    // A later 'error' (a failed kill) must not crash the agent; stop() checks the outcome itself.
    child.on('error', () => {});
    // Listen before the first await, or a quick exit goes unheard.
    const exited = new Promise<number | undefined>((resolve) => {
      child.once('exit', (code, signal) => resolve(exitCodeOf(code, signal)));
    });
    child.unref();
    try {
      await writeRecord(dir, record);
    } catch (err) {
      // Untracked, it would outlive `job stop`, and every retry would add one more.
      await this.kill(identityOf(record), task.allocId, 0);
      await rm(recordPath(dir), { force: true }).catch(() => {});
      throw this.unrecordable(task, err, 'the process was stopped again');
    }
    const ref = formatRef(identityOf(record));
    this.children.set(ref, { exited, recorded: exited.then((code) => this.recordExit(record, code)) });
    return this.handleOf(record);
  }

  private unrecordable(task: ExecTaskSpec, err: unknown, outcome: string): DriverError {
    const reason = (err as NodeJS.ErrnoException).code ?? String(err);
    return new DriverError(
      'io',
      `cannot record the process of ${task.allocId} in ${this.dir(task.allocId)} (${reason}); ${outcome}`,
      'free space on the data dir, make it writable, or raise the open-file limit',
      { cause: err },
    );
  }

  private commandHint(): string {
    return (
      'check that the command exists on this device, is executable, and is on PATH or given as a full path ' +
      '(a job with a user also needs util-linux setpriv)'
    );
  }

  private spawnDetached(task: ExecTaskSpec, dir: string, launch: string, runAs?: RunAs): ChildProcess {
    const out = openSync(join(dir, 'stdout.log'), 'a');
    const err = openSync(join(dir, 'stderr.log'), 'a');
    try {
      const ports = Object.fromEntries(task.ports.map((p) => [portEnvName(p.name), String(p.host)]));
      const [file, args] =
        runAs === undefined
          ? [task.command, task.args]
          : ['setpriv', setprivArgs(runAs, task.command, task.args)];
      return spawn(file, [...args], {
        cwd: dir,
        detached: true,
        stdio: ['ignore', out, err],
        env: {
          PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
          ...task.env,
          ...ports,
          MYCEL_ALLOC_ID: task.allocId,
          MYCEL_JOB: task.job,
          MYCEL_JOB_VERSION: String(task.jobVersion),
          MYCEL_ALLOC_DIR: dir,
          MYCEL_CPU_LIMIT: String(task.resources.cpu),
          MYCEL_MEMORY_LIMIT: String(task.resources.memory),
          [LAUNCH_ENV]: launch,
        },
      });
    } finally {
      closeSync(out);
      closeSync(err);
    }
  }

  /** Persisted so that another agent instance still reports the code. */
  private async recordExit(record: StartedRecord, exitCode: number | undefined): Promise<void> {
    const current = await this.readRecord(record.allocId);
    if (exitCode === undefined || current?.pid !== record.pid || current.startTime !== record.startTime) {
      return;
    }
    await writeRecord(this.dir(record.allocId), { ...current, exitCode }).catch(() => {});
  }

  async stop(allocId: string, options: StopOptions = {}): Promise<void> {
    const record = await this.started(allocId);
    if (record) {
      const id = identityOf(record);
      await this.kill(id, allocId, options.graceMs ?? 5_000);
      const child = this.children.get(formatRef(id));
      this.children.delete(formatRef(id));
      await child?.recorded;
    }
    // Record first, so no rotation pass picks the alloc up again; then let a pass under way finish.
    await rm(recordPath(this.dir(allocId)), { force: true });
    await this.rotationPass;
    await rm(this.dir(allocId), { recursive: true, force: true });
  }

  async signal(allocId: string, signal: NodeJS.Signals): Promise<void> {
    const record = await this.started(allocId);
    if (record && isAlive(identityOf(record))) signalGroup(record.pid, signal);
  }

  /** SIGTERM, then SIGKILL after `graceMs`; signals only a verified identity, never a recycled pid. */
  private async kill(id: ProcIdentity, allocId: string, graceMs: number): Promise<void> {
    if (!isAlive(id)) return;
    signalGroup(id.pid, 'SIGTERM');
    if ((await waitGone(id, graceMs)) || !isAlive(id)) return;
    signalGroup(id.pid, 'SIGKILL');
    if (!(await waitGone(id, KILL_WAIT_MS))) {
      throw new DriverError(
        'io',
        `process ${id.pid} of ${allocId} survived SIGKILL`,
        'it is stuck in the kernel (uninterruptible I/O); check the device and its storage',
      );
    }
  }

  async inspect(allocId: string): Promise<TaskHandle | undefined> {
    const record = await this.started(allocId);
    return record && this.handleOf(record);
  }

  async list(): Promise<TaskHandle[]> {
    const root = join(this.options.dataDir, 'alloc');
    const entries = await readdir(root).catch(() => []);
    const handles = await Promise.all(
      entries.filter((e) => SAFE_ALLOC_ID.test(e)).map((e) => this.inspect(e)),
    );
    return handles.filter((h) => h !== undefined);
  }

  logs(allocId: string, options: LogOptions = {}): AsyncGenerator<LogLine> {
    // Refused here rather than at the first line, so a caller can refuse before it starts streaming.
    if (options.since !== undefined) {
      throw new DriverError(
        'unsupported',
        'the exec driver keeps no timestamps, so it cannot pick lines by time',
        'ask for the last lines with a tail instead',
      );
    }
    return this.readLogs(allocId, options);
  }

  private async *readLogs(allocId: string, options: LogOptions): AsyncGenerator<LogLine> {
    const record = await this.started(allocId);
    if (!record) throw this.notFound(allocId);
    const dir = this.dir(allocId);
    const sources = [
      { path: join(dir, 'stdout.log'), stream: 'stdout' as const },
      { path: join(dir, 'stderr.log'), stream: 'stderr' as const },
    ].filter((s) => options.stream === undefined || s.stream === options.stream);
    yield* readLogFiles(sources, { ...options, writerAlive: () => isAlive(identityOf(record)) });
  }

  async stats(allocId: string): Promise<TaskStats | undefined> {
    const record = await this.started(allocId);
    if (!record || !isAlive(identityOf(record))) return undefined;
    const stat = readProcStat(record.pid);
    const memoryBytes = readRssBytes(record.pid);
    if (!stat || memoryBytes === undefined) return undefined;
    return { cpuSeconds: stat.cpuTicks / CLOCK_TICKS_PER_SECOND, memoryBytes };
  }

  async exec(allocId: string, command: readonly string[], options: CallOptions = {}): Promise<ExecResult> {
    const record = await this.started(allocId);
    const [file, ...args] = command;
    if (!record) throw this.notFound(allocId);
    if (file === undefined)
      throw new DriverError('invalid-task', 'empty command', 'give at least the program');
    const [bin, argv] =
      record.runAs === undefined ? [file, args] : ['setpriv', setprivArgs(record.runAs, file, args)];
    return new Promise((resolve, reject) => {
      execFile(
        bin,
        argv,
        {
          cwd: this.dir(allocId),
          signal: options.signal,
          maxBuffer: MAX_EXEC_OUTPUT,
          env: { PATH: process.env.PATH ?? '/usr/bin:/bin', MYCEL_ALLOC_ID: allocId },
        },
        (err, stdout, stderr) => {
          const output = `${stdout}${stderr}`;
          if (!err) return resolve({ exitCode: 0, output });
          if (options.signal?.aborted) {
            return reject(new DriverError('timeout', `${file} did not finish in time`, 'raise the timeout'));
          }
          if (typeof err.code === 'number') return resolve({ exitCode: err.code, output });
          if (err.code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER') {
            return reject(new DriverError('io', `${file} wrote over 64 KiB`, 'make the command quieter'));
          }
          if (err.signal) return resolve({ exitCode: exitCodeOf(null, err.signal) ?? 1, output });
          reject(new DriverError('start-failed', `cannot run ${file}: ${err.message}`, this.commandHint()));
        },
      );
    });
  }

  /** An operator's command beside the running copy, as its user, in its directory, with its environment. */
  async session(allocId: string, command: readonly string[], options: SessionOptions): Promise<ExecSession> {
    const record = await this.started(allocId);
    if (!record || !isAlive(identityOf(record))) throw this.notFound(allocId);
    const spec = { command, cwd: this.dir(allocId), copyPid: record.pid, runAs: record.runAs };
    return processSession(spec, options);
  }

  /** One copy-truncate pass over the logs of this owner's live processes; the timer calls it. */
  rotateLogs(): Promise<void> {
    this.rotationPass ??= this.rotateOnce().finally(() => {
      this.rotationPass = undefined;
    });
    return this.rotationPass;
  }

  private async rotateOnce(): Promise<void> {
    for (const handle of await this.list()) {
      if (handle.state !== 'running') continue;
      const dir = this.dir(handle.allocId);
      await rotateIfOver(join(dir, 'stdout.log'), this.rotation);
      await rotateIfOver(join(dir, 'stderr.log'), this.rotation);
    }
  }

  private notFound(allocId: string): DriverError {
    return new DriverError(
      'not-found',
      `no process for alloc ${allocId}`,
      'list() shows what this agent runs',
    );
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
  }
}
