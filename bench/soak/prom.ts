/** The few series the soak reads from an agent's `/metrics`, summed over the labels it does not split by. */
export interface SyncFigures {
  /** Ended sessions by outcome (synced, busy, refused, failed), both roles together. */
  ended: Record<string, number>;
  /** Failed sessions torn down by a timeout, by reason (no-progress, deadline). */
  stalls: Record<string, number>;
  active: number;
  oldestS: number;
}

const SAMPLE = /^([a-z_]+)(?:\{([^}]*)\})?\s+(\S+)$/;

function label(labels: string, name: string): string {
  return new RegExp(`${name}="([^"]*)"`).exec(labels)?.[1] ?? '';
}

export function parseSyncFigures(text: string): SyncFigures {
  const figures: SyncFigures = { ended: {}, stalls: {}, active: 0, oldestS: 0 };
  for (const line of text.split('\n')) {
    const m = SAMPLE.exec(line);
    if (!m) continue;
    const [, name, labels = '', raw] = m;
    const value = Number(raw);
    if (!Number.isFinite(value)) continue;
    if (name === 'mycel_state_sync_sessions_total') {
      const outcome = label(labels, 'outcome');
      figures.ended[outcome] = (figures.ended[outcome] ?? 0) + value;
    } else if (name === 'mycel_state_sync_stalls_total') {
      const reason = label(labels, 'reason');
      figures.stalls[reason] = (figures.stalls[reason] ?? 0) + value;
    } else if (name === 'mycel_state_sync_active_sessions') figures.active = value;
    else if (name === 'mycel_state_sync_oldest_session_seconds') figures.oldestS = value;
  }
  return figures;
}

/** Counter increase from `before` to `after`; a counter that went down belongs to a restarted agent. */
export function increase(before: number | undefined, after: number): number {
  return before === undefined || after < before ? after : after - before;
}
