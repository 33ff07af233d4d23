/**
 * Recent events of each allocation this node runs, for `meshctl alloc status` (Nomad's "Recent Events").
 * Memory only and bounded twice: a ring per alloc, and a cap on allocs that evicts the one touched longest
 * ago. Events are local history, not replicated state: the allocation status in MeshState is the summary.
 */

export type AllocEventKind =
  | 'placed'
  | 'adopted'
  | 'started'
  | 'healthy'
  | 'unhealthy'
  | 'exited'
  | 'restarted'
  | 'completed'
  | 'stopped'
  | 'removed'
  | 'failed';

export interface AllocEvent {
  /** Wall-clock ms. */
  readonly at: number;
  readonly kind: AllocEventKind;
  readonly reason?: string;
}

export interface AllocEventsOptions {
  readonly perAlloc?: number;
  readonly maxAllocs?: number;
}

export class AllocEvents {
  private readonly perAlloc: number;
  private readonly maxAllocs: number;
  /** Insertion order is recency order: a recorded alloc is moved to the end. */
  private readonly rings = new Map<string, AllocEvent[]>();

  constructor(options: AllocEventsOptions = {}) {
    this.perAlloc = Math.max(1, options.perAlloc ?? 16);
    this.maxAllocs = Math.max(1, options.maxAllocs ?? 512);
  }

  record(allocId: string, kind: AllocEventKind, at: number, reason?: string): void {
    const ring = this.rings.get(allocId) ?? [];
    this.rings.delete(allocId);
    ring.push(reason === undefined ? { at, kind } : { at, kind, reason });
    if (ring.length > this.perAlloc) ring.splice(0, ring.length - this.perAlloc);
    this.rings.set(allocId, ring);
    for (const oldest of this.rings.keys()) {
      if (this.rings.size <= this.maxAllocs) break;
      this.rings.delete(oldest);
    }
  }

  /** Oldest first. */
  list(allocId: string): AllocEvent[] {
    return [...(this.rings.get(allocId) ?? [])];
  }
}
