export type OutputFormat = 'table' | 'json' | 'yaml';

export interface Column<T> {
  header: string;
  value(row: T): string;
}

/**
 * Aligned columns for people (kubectl-style), the raw objects for machines. Async because the YAML printer loads
 * only when asked for: every other call of meshctl starts without it.
 */
export async function render<T>(
  rows: T[],
  columns: Column<T>[],
  format: OutputFormat,
  raw: unknown = rows,
): Promise<string> {
  if (format === 'json') return `${JSON.stringify(raw, null, 2)}\n`;
  if (format === 'yaml') return (await import('../lib/yaml-text.js')).stringify(raw);
  return table(rows, columns);
}

/**
 * A value from the mesh as one visible line: control characters (a terminal escape or a newline in a device's
 * name, which any member writes into its own record) are shown as `\x1b`, never sent to the terminal.
 */
export function printable(text: string): string {
  let out = '';
  for (const c of text) {
    const code = c.charCodeAt(0);
    out += code < 0x20 || (code >= 0x7f && code <= 0x9f) ? `\\x${code.toString(16).padStart(2, '0')}` : c;
  }
  return out;
}

/** Aligned columns, for sections of a table view. */
export function table<T>(rows: T[], columns: Column<T>[]): string {
  const cells = [
    columns.map((c) => c.header),
    ...rows.map((row) => columns.map((c) => printable(c.value(row)))),
  ];
  const widths = columns.map((_, i) => Math.max(...cells.map((line) => (line[i] ?? '').length)));
  return cells
    .map((line) =>
      line
        .map((cell, i) => (i === line.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
        .join('   ')
        .trimEnd(),
    )
    .join('\n')
    .concat('\n');
}

/** key: value lines for one object. */
export async function renderRecord(
  pairs: [string, string][],
  format: OutputFormat,
  raw: unknown,
): Promise<string> {
  if (format !== 'table') return render([], [], format, raw);
  return recordTable(pairs);
}

/** key: value lines, for sections of a table view. */
export function recordTable(pairs: [string, string][]): string {
  const width = Math.max(...pairs.map(([k]) => k.length)) + 1;
  return pairs
    .map(([k, v]) => `${`${k}:`.padEnd(width)} ${printable(v)}`)
    .join('\n')
    .concat('\n');
}

export function ago(ms: number, now: number): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60}s ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m ago`;
  return `${Math.floor(s / 86_400)}d ago`;
}

export function duration(seconds: number): string {
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${seconds % 60}s`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)}h${Math.floor((seconds % 3600) / 60)}m`;
  return `${Math.floor(seconds / 86_400)}d${Math.floor((seconds % 86_400) / 3600)}h`;
}

export function shortId(peerId: string): string {
  return peerId.length > 16 ? `${peerId.slice(0, 6)}…${peerId.slice(-6)}` : peerId;
}
