import { readdirSync, readFileSync } from 'node:fs';

/**
 * Live (non-zombie) processes whose command line holds `marker`, without their own children: a shell's fork
 * carries its command line until it execs, and is not a second copy.
 */
export function processesWith(marker: string): number[] {
  const found = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (!readFileSync(`/proc/${entry}/cmdline`, 'latin1').includes(marker)) continue;
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (state !== 'Z') found.set(Number(entry), Number(ppid));
    } catch {}
  }
  return [...found].filter(([, ppid]) => !found.has(ppid)).map(([pid]) => pid);
}
