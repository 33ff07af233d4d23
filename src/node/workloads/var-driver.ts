/**
 * Encrypted variables reach a copy here and nowhere earlier: a driver wrapped by `withVars` opens the variables
 * a task's env reads (their placeholders, interpolate.ts) with this device's seal key just before the driver
 * starts the workload, so the values live only in the task handed to the driver and in the workload's
 * environment: never in the replicated state, a status, an event, a log line or a file of the agent. A variable
 * this device cannot open fails the start with the reason (the restart policy tries again: a re-seal may be on
 * its way). `checkVars()`, called whenever the replica changes, restarts a copy whose variables have a newer version
 * than the one it started with: the workload is stopped and started again under the same alloc id with the new
 * values, which the alloc runner (it watches the alloc id, not the process) sees as the same copy still running,
 * so a variable's change is not a failure and does not use up the job's restart attempts. If the new values
 * cannot be opened, the workload stays stopped and the runner's restart policy takes over with the reason.
 */
import type { VarView } from '../../crdt/var-entries.js';
import { openVarValues } from '../../crdt/var-seal.js';
import type { Logger } from '../../lib/logger.js';
import type { Driver, DriverName, TaskSpec, TaskSpecFor } from '../drivers/driver.js';
import { VAR_PLACEHOLDER } from './interpolate.js';

export interface VarSource {
  readonly self: string;
  readonly secret: Uint8Array;
  /** The current version of a variable as this device's replica holds it. */
  variable(path: string): VarView | undefined;
}

export interface VarWatch {
  /** Restarts the copies that run an older version of a variable than the replica's current one. */
  checkVars(): void;
}

/** The task each copy was started with (placeholders, not values) and the version id of each variable. */
type Started = Map<string, { task: TaskSpec; versions: Map<string, string> }>;

export function withVars<K extends DriverName>(
  driver: Driver<K>,
  source: VarSource,
  log: Pick<Logger, 'info' | 'warn'>,
  started: Started = new Map(),
): Driver<K> & VarWatch {
  const start: Driver<K>['start'] = async (task: TaskSpecFor<K>, options) => {
    const paths = new Set<string>();
    for (const value of Object.values(task.env))
      for (const [, path] of value.matchAll(VAR_PLACEHOLDER)) paths.add(path!);
    if (paths.size === 0) return driver.start(task, options);
    const opened = new Map<string, Record<string, string>>();
    const versions = new Map<string, string>();
    for (const path of [...paths].sort()) {
      const view = source.variable(path);
      if (!view) throw new Error(`variable ${path} does not exist (meshctl var put ${path} KEY=VALUE)`);
      const values = openVarValues(view, source.self, source.secret);
      if (!values.ok) throw new Error(values.error);
      opened.set(path, values.value);
      versions.set(path, view.id);
    }
    const env = Object.fromEntries(
      Object.entries(task.env).map(([name, value]) => [
        name,
        value.replace(VAR_PLACEHOLDER, (_, path: string, key: string) => {
          const values = opened.get(path)!;
          if (!Object.hasOwn(values, key))
            throw new Error(
              `variable ${path} has no key ${key} (env ${name}); meshctl var put ${path} ${key}=...`,
            );
          return values[key]!;
        }),
      ]),
    );
    const handle = await driver.start({ ...task, env }, options);
    started.set(task.allocId, { task, versions });
    return handle;
  };
  const stop: Driver<K>['stop'] = (allocId, options) => {
    started.delete(allocId);
    return driver.stop(allocId, options);
  };
  const restart = async (allocId: string, task: TaskSpecFor<K>): Promise<void> => {
    await driver.stop(allocId);
    await start(task);
  };
  const check = (): void => {
    for (const [allocId, { task, versions }] of started) {
      const changed = [...versions].filter(([path, id]) => source.variable(path)?.id !== id).map(([p]) => p);
      if (changed.length === 0) continue;
      started.delete(allocId);
      log.info({ allocId, vars: changed }, 'a variable the copy reads changed: restarting it');
      restart(allocId, task as TaskSpecFor<K>).catch((err: unknown) =>
        log.warn({ allocId, err }, 'cannot restart the copy with the new variable'),
      );
    }
  };
  const own: Record<PropertyKey, unknown> = { start, stop, checkVars: check };
  // The drivers keep private fields: every other member is the driver's own, called on the driver itself.
  return new Proxy(driver, {
    get(target, prop) {
      if (Object.hasOwn(own, prop)) return own[prop];
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  }) as Driver<K> & VarWatch;
}
