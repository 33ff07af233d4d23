/**
 * Durations as people write them in job files ("250ms", "10s", "5m", "1h30m", "24h") and as the replicated
 * spec stores them (whole milliseconds). A bare number such as "30" is rejected rather than read as
 * milliseconds: Nomad, Docker and systemd disagree on what a unitless duration means, and guessing wrong
 * silently turns a 30 s check into a 30 ms one. The one exception is "0", which means the same in every unit.
 */

export type DurationResult =
  | { readonly ok: true; readonly ms: number }
  | { readonly ok: false; readonly error: string };

const UNITS = [
  { unit: 'h', ms: 3_600_000 },
  { unit: 'm', ms: 60_000 },
  { unit: 's', ms: 1_000 },
  { unit: 'ms', ms: 1 },
] as const;

/** The same grammar as a JSON Schema pattern, so editors flag a bad duration before meshctl does. */
export const DURATION_PATTERN = '^(0|(?=[0-9])([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?)$';

// `ms` must be tried before `m`, or "250ms" would read as 250 minutes followed by garbage.
const COMPONENT = /(\d+)(ms|h|m|s)/y;
const EXAMPLES = 'e.g. "250ms", "10s", "5m", "1h30m"';

export function parseDuration(text: string): DurationResult {
  if (text === '0') return { ok: true, ms: 0 };
  if (text === '') return fail(`empty duration; write a number with a unit, ${EXAMPLES}`);
  if (/^-/.test(text)) return fail(`"${text}" is negative; durations cannot be negative`);
  if (/^\d+$/.test(text))
    return fail(`"${text}" has no unit; write e.g. "${text}s" or "${text}ms" (units: h, m, s, ms)`);
  if (/^\d*\.\d/.test(text) || /\d\.\d/.test(text)) {
    return fail(`"${text}" has a fraction; use whole numbers of a smaller unit, e.g. "1500ms" not "1.5s"`);
  }
  let total = 0;
  let offset = 0;
  let previousRank = -1;
  while (offset < text.length) {
    COMPONENT.lastIndex = offset;
    const match = COMPONENT.exec(text);
    if (match === null) return fail(describeJunk(text, offset));
    const rank = UNITS.findIndex((u) => u.unit === match[2]);
    if (rank <= previousRank) {
      return fail(`units in "${text}" must go from largest to smallest, each once, e.g. "1h30m"`);
    }
    previousRank = rank;
    total += Number(match[1]) * UNITS[rank]!.ms;
    offset = COMPONENT.lastIndex;
  }
  if (!Number.isSafeInteger(total)) return fail(`"${text}" is too long a duration`);
  return { ok: true, ms: total };
}

/**
 * The shortest string that parses back to `ms` ("90m" rather than "1h30m", "1500ms" rather than "1s500ms");
 * among equally short ones, the one using larger units. Throws on values no duration string can express.
 */
export function formatDuration(ms: number): string {
  if (!Number.isSafeInteger(ms) || ms < 0)
    throw new RangeError(`not a duration in whole milliseconds: ${ms}`);
  if (ms === 0) return '0s';
  let best: string | undefined;
  // Each non-empty subset of units is one way to spell the value: greedy within the subset, and valid only
  // if the smallest unit chosen absorbs the remainder exactly.
  for (let mask = (1 << UNITS.length) - 1; mask > 0; mask--) {
    const spelled = spellWith(ms, mask);
    if (spelled !== undefined && (best === undefined || spelled.length < best.length)) best = spelled;
  }
  // The subset {ms} always spells any whole number of milliseconds.
  return best!;
}

function spellWith(ms: number, mask: number): string | undefined {
  let rest = ms;
  let out = '';
  UNITS.forEach(({ unit, ms: size }, index) => {
    if ((mask & (1 << (UNITS.length - 1 - index))) === 0) return;
    const amount = Math.floor(rest / size);
    rest -= amount * size;
    if (amount > 0) out += `${amount}${unit}`;
  });
  return rest === 0 ? out : undefined;
}

function describeJunk(text: string, offset: number): string {
  const digits = /\d+/y;
  digits.lastIndex = offset;
  if (digits.exec(text) !== null) {
    const unit = text.slice(digits.lastIndex).match(/^[^\d]*/)?.[0] ?? '';
    if (unit === '') return `"${text}" ends with a number without a unit (units: h, m, s, ms)`;
    return `unknown unit "${unit}" in "${text}"; use h, m, s or ms`;
  }
  return `invalid duration "${text}": expected numbers with units, ${EXAMPLES}`;
}

function fail(error: string): DurationResult {
  return { ok: false, error };
}
