/**
 * What reading meshd's and meshctl's flags needs, apart from the settings schema (config.ts) so that parsing a
 * command line loads no zod: `meshd --version` and `meshctl status` stay fast.
 */

/** A setting that cannot be used: meshd prints the message alone and exits 2. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Workload drivers an agent may offer (`--driver`). */
export const DRIVERS = ['auto', 'docker', 'exec', 'none'] as const;

/** Circuit relay v2 (net/relay-options.ts): serve as a relay, hold reservations on relays, or neither. */
export const RELAY_MODES = ['server', 'client', 'off'] as const;

/** `key=value` pairs into labels; `source` names where they came from in errors. */
export function parseLabels(pairs: readonly string[], source: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new ConfigError(`${source}: label "${pair}" must be key=value`);
    labels[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return labels;
}
