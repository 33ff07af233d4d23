/**
 * The contract between the local reconciler and a runtime (Docker Engine or plain processes). A driver is
 * built for one owner (the agent's peer id) and only ever sees, adopts or touches that owner's workloads, so
 * several agents can share one engine. Handles are plain data: the reconciler keeps no driver objects alive
 * across an agent restart, it asks `list()` again.
 */

export type DriverName = 'docker' | 'exec';

export interface PortMapping {
  readonly name: string;
  readonly host: number;
  readonly container: number;
  readonly protocol: 'tcp' | 'udp';
}

/** A job's volume (crdt/job-spec-storage.ts): a host path (`source`) or a named volume kept per job. */
export interface VolumeMount {
  readonly source?: string | undefined;
  readonly name?: string | undefined;
  readonly target: string;
  readonly readOnly?: boolean | undefined;
}

/** Storage and hardware, absent when the job asks for none (older tasks, the simulator's). */
export interface TaskHardware {
  readonly volumes?: readonly VolumeMount[] | undefined;
  /** `host[:container[:permissions]]`, as in the job spec. */
  readonly devices?: readonly string[] | undefined;
  /** A user name or uid; absent: the image's user, or the agent's for exec. */
  readonly user?: string | undefined;
  readonly groupAdd?: readonly string[] | undefined;
  readonly privileged?: boolean | undefined;
  readonly capAdd?: readonly string[] | undefined;
  readonly capDrop?: readonly string[] | undefined;
}

interface TaskCommon extends TaskHardware {
  readonly allocId: string;
  readonly job: string;
  readonly jobVersion: number;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly network: 'host' | 'bridge';
  readonly ports: readonly PortMapping[];
  /** cpu in millicores, memory in MB, as in the job spec. */
  readonly resources: { readonly cpu: number; readonly memory: number };
  /** The copy's rendered templates on the host (copy-dir.ts): docker mounts it read-only at /mycel. */
  readonly copyDir?: string | undefined;
}

export interface DockerTaskSpec extends TaskCommon {
  readonly driver: 'docker';
  readonly image: string;
  /** Overrides the image's command; `args` follow it. */
  readonly command?: string;
}

export interface ExecTaskSpec extends TaskCommon {
  readonly driver: 'exec';
  readonly command: string;
}

export type TaskSpec = DockerTaskSpec | ExecTaskSpec;
export type TaskSpecFor<K extends DriverName> = Extract<TaskSpec, { driver: K }>;

/** An exit code is absent when nobody could observe it (a process adopted after an agent restart). */
export type TaskState =
  | { readonly state: 'running' }
  | { readonly state: 'exited'; readonly exitCode?: number };

export type TaskHandle = {
  readonly allocId: string;
  readonly job: string;
  readonly jobVersion: number;
  readonly driver: DriverName;
  /** Container id, or `pid:starttime` for a process. */
  readonly ref: string;
  /** Wall-clock ms when the workload started. */
  readonly startedAt: number;
} & TaskState;

export interface LogLine {
  readonly stream: 'stdout' | 'stderr';
  readonly line: string;
}

export interface LogOptions {
  /**
   * Lines of history before following. Docker counts the merged output; the exec driver keeps the two
   * streams in separate files without timestamps, so it gives up to `tail` lines of each, stdout first.
   */
  readonly tail?: number;
  /** Keep yielding new lines until the workload exits or `signal` aborts. */
  readonly follow?: boolean;
  /**
   * Only lines written at or after this wall-clock time (ms). Needs timestamps: the exec driver, which keeps
   * none, refuses it with an `unsupported` error rather than guess.
   */
  readonly since?: number;
  /** One stream only; both when absent. */
  readonly stream?: LogLine['stream'];
  readonly signal?: AbortSignal;
}

export interface TaskStats {
  /** CPU time consumed since start, in seconds. */
  readonly cpuSeconds: number;
  readonly memoryBytes: number;
}

export interface ExecResult {
  readonly exitCode: number;
  readonly output: string;
}

export interface CallOptions {
  readonly signal?: AbortSignal;
}

export interface StopOptions extends CallOptions {
  /** Time between the polite signal and the kill. */
  readonly graceMs?: number;
}

export interface OutputChunk {
  readonly stream: 'stdout' | 'stderr';
  readonly data: Uint8Array;
}

export interface SessionOptions extends CallOptions {
  /** A pseudo-terminal: output is one stream (stdout), input is raw keystrokes. */
  readonly tty: boolean;
  /** Whether the command reads input; without it, its stdin is empty. */
  readonly stdin: boolean;
  readonly cols?: number;
  readonly rows?: number;
}

/**
 * A command run in a workload for an operator (`meshctl alloc exec`): its output as it comes (the next chunk
 * is read only when asked for, so a slow reader holds the command back), its input, and how it ended.
 */
export interface ExecSession {
  readonly output: AsyncIterable<OutputChunk>;
  /** Resolves once the command took the bytes (or its input is closed). */
  write(data: Uint8Array): Promise<void>;
  endInput(): void;
  resize(cols: number, rows: number): Promise<void>;
  /** The exit code, once the command ended: read it after `output` ended. */
  exitCode(): Promise<number>;
  /** Kills the command and what it started, if still running (the operator went away). */
  kill(): Promise<void>;
}

export interface Driver<K extends DriverName = DriverName> {
  readonly name: K;
  /**
   * Starts the task, or adopts it when this owner already runs the same alloc at the same job version: an
   * agent restart must not restart workloads. Anything else left under the alloc's name is replaced.
   */
  start(task: TaskSpecFor<K>, options?: CallOptions): Promise<TaskHandle>;
  /** Terminate (grace, then kill) and remove the workload and what the driver kept for it. */
  stop(allocId: string, options?: StopOptions): Promise<void>;
  inspect(allocId: string, options?: CallOptions): Promise<TaskHandle | undefined>;
  /** This owner's workloads, running or exited but not yet stopped. */
  list(options?: CallOptions): Promise<TaskHandle[]>;
  logs(allocId: string, options?: LogOptions): AsyncIterable<LogLine>;
  stats(allocId: string, options?: CallOptions): Promise<TaskStats | undefined>;
  /** Sends `signal` to the running workload (a template's changeSignal); nothing when it does not run. */
  signal(allocId: string, signal: NodeJS.Signals, options?: CallOptions): Promise<void>;
  /** Run a command in the workload's context (inside its container for Docker); used by exec health checks. */
  exec(allocId: string, command: readonly string[], options?: CallOptions): Promise<ExecResult>;
  /** An operator's command in a running workload, streamed both ways; absent where a driver has none. */
  session?(allocId: string, command: readonly string[], options: SessionOptions): Promise<ExecSession>;
  /** Release timers and connections; workloads keep running. */
  close(): Promise<void>;
}
