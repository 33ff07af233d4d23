/**
 * A memory cgroup standing in for a device: cgroup v2 (`memory.max`, `memory.current`, `memory.events`) where
 * the unified hierarchy has the memory controller, else v1 (`memory.limit_in_bytes`, `memory.usage_in_bytes`,
 * `memory.failcnt`, `memory.oom_control`). Created and removed directly in the cgroup file system, since PID 1
 * need not be systemd. Root only.
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface CgroupReading {
  readonly usageBytes: number;
  /** Times usage hit the limit (v1 failcnt; v2 `max` events). */
  readonly limitHits: number;
  readonly oomKills: number;
  readonly swapBytes: number | null;
  readonly majorFaults: number;
}

export class DeviceCgroup {
  private constructor(
    readonly version: 1 | 2,
    readonly path: string,
  ) {}

  static create(name: string, limitBytes: number): DeviceCgroup {
    const v2 = '/sys/fs/cgroup';
    const v2Controllers = join(v2, 'cgroup.controllers');
    const unifiedMemory = existsSync(v2Controllers) && /\bmemory\b/.test(readFileSync(v2Controllers, 'utf8'));
    if (unifiedMemory) {
      // A child's memory controller is available only when the parent hands it down.
      writeFileSync(join(v2, 'cgroup.subtree_control'), '+memory');
      const path = join(v2, name);
      mkdirSync(path, { recursive: true });
      writeFileSync(join(path, 'memory.max'), String(limitBytes));
      return new DeviceCgroup(2, path);
    }
    const v1 = '/sys/fs/cgroup/memory';
    if (!existsSync(join(v1, 'memory.limit_in_bytes')))
      throw new Error(
        'no memory cgroup: neither cgroup v2 with the memory controller nor v1 at /sys/fs/cgroup/memory',
      );
    const path = join(v1, name);
    mkdirSync(path, { recursive: true });
    writeFileSync(join(path, 'memory.limit_in_bytes'), String(limitBytes));
    return new DeviceCgroup(1, path);
  }

  /** Argv prefix that runs a command inside this cgroup: the shell joins it, then becomes the command. */
  wrapper(): string[] {
    return ['/bin/sh', '-c', `echo $$ > ${join(this.path, 'cgroup.procs')} && exec "$@"`, 'sh'];
  }

  read(): CgroupReading {
    const file = (name: string) => readFileSync(join(this.path, name), 'utf8');
    const optional = (name: string) => (existsSync(join(this.path, name)) ? file(name) : undefined);
    const stat = (text: string, key: string) =>
      Number(new RegExp(`^${key} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
    if (this.version === 2) {
      const events = file('memory.events');
      const swap = optional('memory.swap.current');
      return {
        usageBytes: Number(file('memory.current')),
        limitHits: stat(events, 'max'),
        oomKills: stat(events, 'oom_kill'),
        swapBytes: swap === undefined ? null : Number(swap),
        majorFaults: stat(file('memory.stat'), 'pgmajfault'),
      };
    }
    const memsw = optional('memory.memsw.usage_in_bytes');
    const usage = Number(file('memory.usage_in_bytes'));
    return {
      usageBytes: usage,
      limitHits: Number(file('memory.failcnt')),
      oomKills: stat(file('memory.oom_control'), 'oom_kill'),
      swapBytes: memsw === undefined ? null : Math.max(0, Number(memsw) - usage),
      majorFaults: stat(file('memory.stat'), 'total_pgmajfault'),
    };
  }

  /** The kernel's own high-water mark, where it keeps one. */
  peakBytes(): number | null {
    const name = this.version === 2 ? 'memory.peak' : 'memory.max_usage_in_bytes';
    return existsSync(join(this.path, name)) ? Number(readFileSync(join(this.path, name), 'utf8')) : null;
  }

  /** Removes the (by then empty) cgroup. */
  remove(): void {
    try {
      rmdirSync(this.path);
    } catch {
      // Still has a process (a copy not yet reaped): leave it rather than fail the report.
    }
  }
}
