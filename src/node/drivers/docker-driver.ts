/**
 * Containers through the local Docker Engine. The engine is the record: labels say which alloc, job, version
 * and owner a container belongs to, so an agent that restarts finds its containers by label and adopts them,
 * and agents sharing one engine never touch each other's. Every call carries a deadline.
 */
import Docker from 'dockerode';
import { CONTAINER_COPY_DIR } from './copy-dir.js';
import { containerConfig, containerName, LABELS } from './docker-container-config.js';
import { type EngineError, engineMessage, statusOf } from './docker-engine-error.js';
import { DockerImages } from './docker-image.js';
import { demuxFrames } from './docker-log-frames.js';
import { type LogCursor, linesOf, once } from './docker-log-lines.js';
import { sinceParam } from './docker-log-timestamps.js';
import { dockerSession } from './docker-session.js';
import type {
  CallOptions,
  DockerTaskSpec,
  Driver,
  ExecResult,
  ExecSession,
  LogLine,
  LogOptions,
  SessionOptions,
  StopOptions,
  TaskHandle,
  TaskStats,
} from './driver.js';
import { DriverError, deadline, isAbort } from './driver-error.js';
import { type HostMount, prepareMounts } from './host-mounts.js';

export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock';

export interface DockerDriverOptions {
  /** Peer id of the owning agent. */
  readonly owner: string;
  readonly socketPath?: string;
  /** Deadline of an ordinary engine call. */
  readonly callTimeoutMs?: number;
  /** Deadline of a whole image pull. */
  readonly pullTimeoutMs?: number;
  /**
   * `host:port` of the agent's registry endpoint, when it is up: images are pulled through it (local store,
   * then peers, then upstream) and retagged to the name the job spec gives.
   */
  readonly mirror?: () => string | undefined;
  /** Where named volumes live (`<dataDir>/volumes`) and which host paths jobs may mount: host-mounts.ts. */
  readonly dataDir?: string;
  readonly allowHostPath?: readonly string[];
}

const SAFE_ALLOC_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

function exitCodeOf(info: Docker.ContainerInspectInfo): number | undefined {
  // A container that was created but never started has "exited" nothing.
  return info.State.Status === 'exited' || info.State.Status === 'dead' ? info.State.ExitCode : undefined;
}

/** Not every dockerode method honours `abortSignal`; the deadline must hold for those too. */
function raceAbort<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

export class DockerDriver implements Driver<'docker'> {
  readonly name = 'docker';
  private readonly docker: Docker;
  private readonly socketPath: string;
  private readonly callTimeoutMs: number;
  private readonly images: DockerImages;

  constructor(private readonly options: DockerDriverOptions) {
    this.socketPath = options.socketPath ?? DEFAULT_DOCKER_SOCKET;
    this.docker = new Docker({ socketPath: this.socketPath });
    this.callTimeoutMs = options.callTimeoutMs ?? 10_000;
    this.images = new DockerImages(
      this.docker,
      (what, fn, callOptions) => this.call(what, fn, callOptions),
      options.pullTimeoutMs ?? 10 * 60_000,
      options.mirror,
    );
  }

  /** Runs one engine call under a deadline and turns its failure into a DriverError that says what to fix. */
  private async call<T>(
    what: string,
    fn: (abortSignal: AbortSignal) => Promise<T>,
    options: CallOptions & { ms?: number } = {},
  ): Promise<T> {
    const ms = options.ms ?? this.callTimeoutMs;
    const signal = deadline(ms, options.signal);
    try {
      return await raceAbort(fn(signal), signal);
    } catch (err) {
      throw this.translate(err, what, ms);
    }
  }

  private translate(err: unknown, what: string, ms: number): unknown {
    if (err instanceof DriverError || statusOf(err) !== undefined) return err;
    if (isAbort(err)) {
      return new DriverError(
        'timeout',
        `${what} took over ${ms} ms`,
        'the Docker Engine is overloaded or stuck; check `docker info` and the dockerd log',
        { cause: err },
      );
    }
    const code = (err as EngineError).code;
    if (code === 'ENOENT' || code === 'ECONNREFUSED' || code === 'EACCES' || code === 'ECONNRESET') {
      const hint =
        code === 'EACCES'
          ? `run meshd as a user allowed to use ${this.socketPath} (the docker group)`
          : `start dockerd, or point --docker-socket at its socket (now ${this.socketPath})`;
      return new DriverError('engine-unreachable', `${what}: no Docker Engine answers`, hint, { cause: err });
    }
    return err;
  }

  /** The alloc's container, when this owner runs it; otherwise a not-found error that says where to look. */
  private async ownContainer(allocId: string, options: CallOptions): Promise<Docker.Container> {
    if (!(await this.inspect(allocId, options))) {
      throw new DriverError(
        'not-found',
        `no container for alloc ${allocId}`,
        'list() shows what this agent runs',
      );
    }
    return this.container(allocId);
  }

  private container(allocId: string): Docker.Container {
    if (!SAFE_ALLOC_ID.test(allocId)) {
      throw new DriverError(
        'invalid-task',
        `alloc id ${JSON.stringify(allocId)} cannot name a container`,
        'alloc ids must be 1-128 letters, digits, ".", "_" or "-", starting with a letter or digit',
      );
    }
    return this.docker.getContainer(containerName(allocId));
  }

  /** The container under the alloc's name, whoever owns it; undefined when there is none. */
  private async inspectAny(allocId: string, options: CallOptions = {}) {
    const container = this.container(allocId);
    try {
      return await this.call(
        `inspect ${containerName(allocId)}`,
        (abortSignal) => container.inspect({ abortSignal }),
        options,
      );
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  }

  private owns(info: Docker.ContainerInspectInfo, allocId: string): boolean {
    const labels = info.Config.Labels ?? {};
    return labels[LABELS.owner] === this.options.owner && labels[LABELS.alloc] === allocId;
  }

  private handleOf(info: Docker.ContainerInspectInfo): TaskHandle {
    const labels = info.Config.Labels ?? {};
    const base = {
      allocId: labels[LABELS.alloc] ?? '',
      job: labels[LABELS.job] ?? '',
      jobVersion: Number(labels[LABELS.version]),
      driver: 'docker' as const,
      ref: info.Id,
      startedAt: Date.parse(info.State.StartedAt),
    };
    if (info.State.Running) return { ...base, state: 'running' };
    const exitCode = exitCodeOf(info);
    return exitCode === undefined ? { ...base, state: 'exited' } : { ...base, state: 'exited', exitCode };
  }

  async start(task: DockerTaskSpec, options: CallOptions = {}): Promise<TaskHandle> {
    const name = containerName(task.allocId);
    const existing = await this.inspectAny(task.allocId, options);
    if (existing) {
      const labels = existing.Config.Labels ?? {};
      const same =
        this.owns(existing, task.allocId) &&
        labels[LABELS.job] === task.job &&
        labels[LABELS.version] === String(task.jobVersion);
      if (same && existing.State.Running) return this.handleOf(existing);
      // Left over from a crashed start, an earlier run or version, or another owner: the name is the alloc's now.
      await this.remove(task.allocId, options);
    }
    const image = await this.images.ensure(task.image, options);
    const mounts = await this.mounts(task);
    const container = await this.call(
      `create ${name}`,
      (abortSignal) =>
        this.docker.createContainer({
          ...containerConfig({ ...task, image }, this.options.owner, mounts),
          abortSignal,
        }),
      options,
    ).catch((err: unknown) => {
      throw err instanceof DriverError
        ? err
        : new DriverError(
            'create-failed',
            `cannot create ${name}: ${engineMessage(err)}`,
            'check the job spec',
            {
              cause: err,
            },
          );
    });
    try {
      await this.call(`start ${name}`, (abortSignal) => container.start({ abortSignal }), options);
    } catch (err) {
      await this.remove(task.allocId).catch(() => {});
      throw err instanceof DriverError
        ? err
        : new DriverError(
            'start-failed',
            `cannot start ${name}: ${engineMessage(err)}`,
            'check the command exists in the image, and that the published ports are free on this device',
            { cause: err },
          );
    }
    const info = await this.call(
      `inspect ${name}`,
      (abortSignal) => container.inspect({ abortSignal }),
      options,
    );
    return this.handleOf(info);
  }

  private async mounts(task: DockerTaskSpec): Promise<HostMount[]> {
    const copy =
      task.copyDir === undefined
        ? []
        : [{ source: task.copyDir, target: CONTAINER_COPY_DIR, readOnly: true }];
    if (!task.volumes?.length) return copy;
    const { dataDir, allowHostPath = [] } = this.options;
    if (dataDir === undefined) {
      throw new DriverError('invalid-task', 'this driver has no data dir for volumes', 'give it dataDir');
    }
    // A numeric user owns its named volumes; a name means whatever the image's passwd says, unknown here.
    const uid = task.user !== undefined && /^[0-9]+$/.test(task.user) ? Number(task.user) : undefined;
    const runAs = uid === undefined ? undefined : { uid, gid: -1, throughDataDir: false };
    return [...copy, ...(await prepareMounts(task.job, task.volumes, { dataDir, allowHostPath, runAs }))];
  }

  async stop(allocId: string, options: StopOptions = {}): Promise<void> {
    const info = await this.inspectAny(allocId, options);
    if (!info || !this.owns(info, allocId)) return;
    const container = this.container(allocId);
    if (info.State.Running) {
      // The image's own stop signal, as `docker stop` would send.
      const stopSignal = (info.Config as { StopSignal?: string }).StopSignal ?? 'SIGTERM';
      await this.kill(container, stopSignal, options);
      const graceMs = options.graceMs ?? 10_000;
      const stopped = await container
        .wait({ condition: 'not-running', abortSignal: deadline(graceMs, options.signal) })
        .then(
          () => true,
          (err: unknown) => {
            if (isAbort(err) && !options.signal?.aborted) return false;
            throw this.translate(err, `wait for ${containerName(allocId)}`, graceMs);
          },
        );
      if (!stopped) await this.kill(container, 'SIGKILL', options);
    }
    await this.remove(allocId, options);
  }

  async signal(allocId: string, signal: NodeJS.Signals, options: CallOptions = {}): Promise<void> {
    const info = await this.inspectAny(allocId, options);
    if (info?.State.Running && this.owns(info, allocId))
      await this.kill(this.container(allocId), signal, options);
  }

  private async kill(container: Docker.Container, signal: string, options: CallOptions): Promise<void> {
    try {
      await this.call(
        `kill ${container.id}`,
        (abortSignal) => container.kill({ signal, abortSignal }),
        options,
      );
    } catch (err) {
      // 409: it stopped on its own meanwhile.
      if (statusOf(err) !== 409 && statusOf(err) !== 404) throw err;
    }
  }

  /** Force-removal also kills, so this is the last word whatever state the container is in. */
  private async remove(allocId: string, options: CallOptions = {}): Promise<void> {
    const container = this.container(allocId);
    try {
      await this.call(
        `remove ${containerName(allocId)}`,
        (abortSignal) => container.remove({ force: true, v: true, abortSignal }),
        options,
      );
    } catch (err) {
      // 404: already gone; 409: removal already in progress.
      if (statusOf(err) !== 404 && statusOf(err) !== 409) throw err;
    }
  }

  async inspect(allocId: string, options: CallOptions = {}): Promise<TaskHandle | undefined> {
    const info = await this.inspectAny(allocId, options);
    return info && this.owns(info, allocId) ? this.handleOf(info) : undefined;
  }

  async list(options: CallOptions = {}): Promise<TaskHandle[]> {
    const summaries = await this.call(
      'list containers',
      (abortSignal) =>
        this.docker.listContainers({
          all: true,
          filters: { label: [`${LABELS.owner}=${this.options.owner}`] },
          abortSignal,
        }),
      options,
    );
    const handles = await Promise.all(
      summaries
        .map((s) => s.Labels[LABELS.alloc])
        .map((allocId) => (allocId ? this.inspect(allocId, options) : undefined)),
    );
    return handles.filter((h) => h !== undefined);
  }

  async *logs(allocId: string, options: LogOptions = {}): AsyncGenerator<LogLine> {
    const container = await this.ownContainer(allocId, options);
    const what = `logs ${containerName(allocId)}`;
    const common = {
      stdout: options.stream !== 'stderr',
      stderr: options.stream !== 'stdout',
      timestamps: true,
    } as const;
    const since =
      options.since === undefined ? {} : { since: sinceParam(BigInt(options.since) * 1_000_000n) };
    const range = { ...since, ...(options.tail === undefined ? {} : { tail: options.tail }) };
    const cursor: LogCursor = { last: undefined };
    if (!options.follow) {
      const buffer = await this.call(
        what,
        (abortSignal) => container.logs({ ...common, ...range, abortSignal }),
        options,
      );
      yield* linesOf(once(buffer), cursor);
      return;
    }
    // No deadline on a follow: it lasts as long as the container or the caller's signal.
    const abortSignal = options.signal ?? new AbortController().signal;
    const stream = await this.call(
      what,
      () => container.logs({ ...common, ...range, follow: true, abortSignal }),
      options,
    );
    try {
      yield* linesOf(stream as AsyncIterable<Uint8Array>, cursor);
    } catch (err) {
      if (options.signal?.aborted) return;
      throw this.translate(err, what, 0);
    }
    if (options.signal?.aborted) return;
    // The engine can end a follow before it has read the container's last message out of its log file; what
    // came after the last line seen is still there.
    const resume = cursor.last === undefined ? range : { since: sinceParam(cursor.last) };
    const rest = await this.call(
      what,
      (abortSignal) => container.logs({ ...common, ...resume, abortSignal }),
      options,
    );
    yield* linesOf(once(rest), cursor);
  }

  async stats(allocId: string, options: CallOptions = {}): Promise<TaskStats | undefined> {
    const info = await this.inspectAny(allocId, options);
    if (!info || !this.owns(info, allocId) || !info.State.Running) return undefined;
    const container = this.container(allocId);
    const stats = await this.call(
      `stats ${containerName(allocId)}`,
      (abortSignal) => container.stats({ stream: false, 'one-shot': true, abortSignal } as { stream: false }),
      options,
    );
    return {
      cpuSeconds: stats.cpu_stats.cpu_usage.total_usage / 1e9,
      memoryBytes: stats.memory_stats.usage ?? 0,
    };
  }

  async exec(allocId: string, command: readonly string[], options: CallOptions = {}): Promise<ExecResult> {
    const container = await this.ownContainer(allocId, options);
    const what = `exec in ${containerName(allocId)}`;
    return this.call(
      what,
      async (abortSignal) => {
        const exec = await container.exec({
          Cmd: [...command],
          AttachStdout: true,
          AttachStderr: true,
          abortSignal,
        });
        const stream = (await exec.start({
          hijack: true,
          stdin: false,
          abortSignal,
        })) as AsyncIterable<Uint8Array>;
        const output: Buffer[] = [];
        for await (const frame of demuxFrames(stream)) output.push(frame.data);
        const result = await exec.inspect({ abortSignal });
        return { exitCode: result.ExitCode ?? -1, output: Buffer.concat(output).toString('utf8') };
      },
      options,
    );
  }

  async session(allocId: string, command: readonly string[], options: SessionOptions): Promise<ExecSession> {
    const container = await this.ownContainer(allocId, options);
    const what = `exec in ${containerName(allocId)}`;
    return this.call(what, (abortSignal) => dockerSession(container, command, options, abortSignal), options);
  }

  async close(): Promise<void> {}
}
