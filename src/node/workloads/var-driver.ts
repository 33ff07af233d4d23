/**
 * Encrypted variables reach a copy here and nowhere earlier: a driver wrapped by `withVars` opens the variables
 * a task's env reads (their placeholders, interpolate.ts) with this device's seal key just before the driver
 * starts the workload, so the values live only in the task handed to the driver and in the workload's
 * environment: never in the replicated state, a status, an event, a log line or a file of the agent. A variable
 * this device cannot open fails the start with the reason (the restart policy tries again: a re-seal may be on
 * its way). `check()`, called whenever the replica changes, restarts a copy whose variables have a newer version
 * than the one it started with, by stopping its workload: the alloc runner sees it gone and starts it again
 * through its restart policy, with the new values.
 */
import type { VarView } from '../../crdt/var-entries.js';
import { openVarValues } from '../../crdt/var-seal.js';
import type { Logger } from '../../lib/logger.js';
import type { Driver, DriverName, TaskSpecFor } from '../drivers/driver.js';
import { VAR_PLACEHOLDER } from './interpolate.js';

export interface VarSource {
  readonly self: string;
  readonly secret: Uint8Array;
  /** The current version of a variable as this device's replica holds it. */
  variable(path: string): VarView | undefined;
}

export interface VarWatch {
  /** Restarts the copies that run an older version of a variable than the replica's current one. */
  check(): void;
}

/** Version ids each copy started with, by alloc id then path: what `check` compares. */
type Started = Map<string, Map<string, string | undefined>>;

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
    const versions = new Map<string, string | undefined>();
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
    started.set(task.allocId, versions);
    return handle;
  };
  const stop: Driver<K>['stop'] = (allocId, options) => {
    started.delete(allocId);
    return driver.stop(allocId, options);
  };
  const check = (): void => {
    for (const [allocId, versions] of started) {
      const changed = [...versions].filter(([path, id]) => source.variable(path)?.id !== id).map(([p]) => p);
      if (changed.length === 0) continue;
      started.delete(allocId);
      log.info({ allocId, vars: changed }, 'a variable the copy reads changed: restarting it');
      driver.stop(allocId).catch((err: unknown) => log.warn({ allocId, err }, 'cannot restart the copy'));
    }
  };
  const own: Record<PropertyKey, unknown> = { start, stop, check };
  // The drivers keep private fields: every other member is the driver's own, called on the driver itself.
  return new Proxy(driver, {
    get(target, prop) {
      if (Object.hasOwn(own, prop)) return own[prop];
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  }) as Driver<K> & VarWatch;
}
