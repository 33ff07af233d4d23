/**
 * The device nodes this node's record offers to placement. Not all of /dev (hundreds of ttys and loops that no
 * job asks for, and churn in every record): the device files edge workloads use, by name pattern, plus any path
 * the operator names with `--device`. Read when the record is written (agent start, address changes), so a
 * device plugged in later shows up at the next record write or restart.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** Serial ports, cameras and media, GPIO, I2C, SPI, GPUs: per directory under /dev. */
const PATTERNS: Readonly<Record<string, RegExp>> = {
  '': /^(ttyUSB\d+|ttyACM\d+|ttyAMA\d+|video\d+|media\d+|gpiochip\d+|i2c-\d+|spidev\d+\.\d+|hidraw\d+)$/,
  dri: /^(card\d+|renderD\d+)$/,
};
export const MAX_OFFERED_DEVICES = 256;

/** Sorted, bounded; `devRoot` is /dev except in tests. */
export function offeredDevices(extra: readonly string[], devRoot = '/dev'): string[] {
  const found = new Set<string>();
  for (const [dir, pattern] of Object.entries(PATTERNS)) {
    let names: string[];
    try {
      names = readdirSync(join(devRoot, dir));
    } catch {
      continue;
    }
    for (const name of names) if (pattern.test(name)) found.add(join('/dev', dir, name));
  }
  // Named by the operator, yet offered only when present: a record must not promise what is not there.
  for (const path of extra) if (existsSync(join(devRoot, path.slice('/dev/'.length)))) found.add(path);
  return [...found].sort().slice(0, MAX_OFFERED_DEVICES);
}
