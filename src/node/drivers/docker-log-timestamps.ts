/**
 * Docker's `timestamps` log option prefixes every message with its RFC 3339 time to the nanosecond. The
 * driver uses them to resume a log exactly where it stopped; they are stripped before lines reach callers.
 * Nanoseconds do not fit a double, and trailing zeros are trimmed (so strings do not sort), hence bigint.
 */

const STAMPED = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z (.*)$/s;

export interface StampedLine {
  /** Nanoseconds since the epoch; undefined for a line that carries no timestamp. */
  readonly ns: bigint | undefined;
  readonly text: string;
}

export function splitTimestamp(line: string): StampedLine {
  const match = STAMPED.exec(line);
  const ms = match?.[1] === undefined ? Number.NaN : Date.parse(`${match[1]}Z`);
  if (!match || Number.isNaN(ms)) return { ns: undefined, text: line };
  const fraction = BigInt((match[2] ?? '').padEnd(9, '0'));
  return { ns: BigInt(ms) * 1_000_000n + fraction, text: match[3] ?? '' };
}

/** The `since` parameter for a time in ns: seconds with a nanosecond fraction. */
export function sinceParam(ns: bigint): string {
  return `${ns / 1_000_000_000n}.${String(ns % 1_000_000_000n).padStart(9, '0')}`;
}
