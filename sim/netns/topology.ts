import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/**
 * Network namespaces for a real-kernel run: one per agent (`<prefix>n<i>`, interface eth0) and a hub namespace
 * holding the bridge every agent's veth peer is attached to. Nothing touches the root namespace. Faults are
 * iptables rules in the agents' namespaces, in chains of our own: SIMLINK (partitions, cuts, no-dial),
 * SIMISO (isolation), SIMLOSS (random packet loss).
 */
export class Topology {
  readonly prefix: string;
  readonly size: number;
  readonly #generation: number[];

  constructor(prefix: string, size: number) {
    if (process.getuid?.() !== 0)
      throw new Error('netns mode needs root (ip netns, veth, iptables): run it as root, e.g. in CI');
    this.prefix = prefix;
    this.size = size;
    this.#generation = Array.from({ length: size }, () => 0);
  }

  ns(i: number): string {
    return `${this.prefix}n${i}`;
  }

  get hub(): string {
    return `${this.prefix}hub`;
  }

  /** Node i's current address; an IP change moves it to the next /24 of 10.77.0.0/16. */
  ip(i: number): string {
    return `10.77.${this.#generation[i]}.${10 + i}`;
  }

  create(): void {
    ip('netns', 'add', this.hub);
    ip('-n', this.hub, 'link', 'set', 'lo', 'up');
    ip('-n', this.hub, 'link', 'add', 'br0', 'type', 'bridge');
    ip('-n', this.hub, 'link', 'set', 'br0', 'up');
    for (let i = 0; i < this.size; i++) {
      const ns = this.ns(i);
      ip('netns', 'add', ns);
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      // Both ends are created inside their namespaces: no interface ever appears in the root namespace.
      ip('-n', ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', `h${i}`, 'netns', this.hub);
      ip('-n', this.hub, 'link', 'set', `h${i}`, 'master', 'br0');
      ip('-n', this.hub, 'link', 'set', `h${i}`, 'up');
      ip('-n', ns, 'addr', 'add', `${this.ip(i)}/16`, 'dev', 'eth0');
      ip('-n', ns, 'link', 'set', 'eth0', 'up');
      for (const chain of ['SIMLINK', 'SIMISO', 'SIMLOSS']) {
        iptables(ns, '-N', chain);
        iptables(ns, '-A', 'INPUT', '-j', chain);
        iptables(ns, '-A', 'OUTPUT', '-j', chain);
      }
    }
  }

  destroy(): void {
    for (const ns of [...Array.from({ length: this.size }, (_, i) => this.ns(i)), this.hub]) {
      for (const pid of pids(ns)) kill(pid);
      try {
        ip('netns', 'del', ns);
      } catch {
        // Already gone (a failed create): nothing to remove.
      }
    }
  }

  /** Packets between the groups dropped both ways. */
  partition(groups: readonly (readonly number[])[]): void {
    for (const [g, group] of groups.entries())
      for (const [h, other] of groups.entries())
        if (g !== h) for (const a of group) for (const b of other) this.cut(a, b);
  }

  /** Every packet from a to b dropped (a's OUTPUT): a's data and a's acks never reach b. */
  cut(a: number, b: number): void {
    iptables(this.ns(a), '-A', 'SIMLINK', '-o', 'eth0', '-d', this.ip(b), '-j', 'DROP');
  }

  /** a cannot open TCP connections to b: b drops SYNs from a; connections b opens work both ways. */
  noDial(a: number, b: number): void {
    iptables(this.ns(b), '-A', 'SIMLINK', '-i', 'eth0', '-s', this.ip(a), '-p', 'tcp', '--syn', '-j', 'DROP');
  }

  heal(): void {
    for (let i = 0; i < this.size; i++) iptables(this.ns(i), '-F', 'SIMLINK');
  }

  isolate(i: number, on: boolean): void {
    iptables(this.ns(i), '-F', 'SIMISO');
    if (!on) return;
    iptables(this.ns(i), '-A', 'SIMISO', '-i', 'eth0', '-j', 'DROP');
    iptables(this.ns(i), '-A', 'SIMISO', '-o', 'eth0', '-j', 'DROP');
  }

  /** Random packet loss on receipt at every node (TCP retransmits: it shows as delay, not as lost messages). */
  loss(fraction: number): void {
    for (let i = 0; i < this.size; i++) {
      iptables(this.ns(i), '-F', 'SIMLOSS');
      if (fraction > 0)
        iptables(
          this.ns(i),
          '-A',
          'SIMLOSS',
          '-i',
          'eth0',
          '-m',
          'statistic',
          '--mode',
          'random',
          '--probability',
          String(fraction),
          '-j',
          'DROP',
        );
    }
  }

  /** The interface's address changes under the running agent (which listens on 0.0.0.0). */
  changeAddress(i: number): void {
    const ns = this.ns(i);
    ip('-n', ns, 'addr', 'flush', 'dev', 'eth0');
    (this.#generation[i] as number)++;
    ip('-n', ns, 'addr', 'add', `${this.ip(i)}/16`, 'dev', 'eth0');
  }

  /** Bytes and packets through node i's eth0 (from the namespace's own /proc/net/dev). */
  traffic(i: number): { rxBytes: number; rxPackets: number; txBytes: number; txPackets: number } {
    const dev = execFileSync('ip', ['netns', 'exec', this.ns(i), 'cat', '/proc/net/dev'], {
      encoding: 'utf8',
    });
    const line = dev.split('\n').find((l) => l.trim().startsWith('eth0:'));
    const f = (line?.split(':')[1] ?? '').trim().split(/\s+/).map(Number);
    return { rxBytes: f[0] ?? 0, rxPackets: f[1] ?? 0, txBytes: f[8] ?? 0, txPackets: f[9] ?? 0 };
  }

  /** Resident set of a process in kB, 0 when it is gone. */
  static rssKb(pid: number): number {
    try {
      const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      return Number(m?.[1] ?? 0);
    } catch {
      return 0;
    }
  }
}

/** Processes whose network namespace is `ns`. */
export function pids(ns: string): number[] {
  try {
    return execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

export function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function iptables(ns: string, ...args: string[]): void {
  execFileSync('ip', ['netns', 'exec', ns, 'iptables', '-w', ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
}

export function kill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Already exited.
  }
}
