import type { SoakFleet } from './fleet.js';

/** The faults a soak rotates through, one per round. */
export const ROTATION = ['one-way-out', 'one-way-in', 'partition', 'kill-restart', 'ip-change'] as const;
export type FaultKind = (typeof ROTATION)[number];

export interface Fault {
  kind: FaultKind;
  /** The agents the fault hits (for a partition, the minority side). */
  victims: number[];
  /** Agents out of the fault's reach: the round's layer moves between two of them. */
  spared: number[];
  /**
   * Where the round's job is submitted while the fault holds, chosen so that the replicas differ until the heal:
   * on the side whose news cannot get out, or beside an agent that cannot hear.
   */
  submitOn: number;
}

/** The round's fault, its victim moving round by round so that every agent is hit over a long run. */
export function planFault(round: number, size: number): Fault {
  const kind = ROTATION[round % ROTATION.length] as FaultKind;
  const victim = (round * 5 + 3) % size;
  const victims =
    kind === 'partition'
      ? Array.from({ length: Math.max(1, Math.floor(size / 3)) }, (_, k) => (victim + k) % size)
      : [victim];
  const spared = Array.from({ length: size }, (_, i) => i).filter((i) => !victims.includes(i));
  const outsider = spared[round % spared.length] as number;
  const submitOn = kind === 'one-way-in' || kind === 'kill-restart' ? outsider : victim;
  return { kind, victims, spared, submitOn };
}

/** Instant faults (an IP change) have nothing to hold: their heal is when they happen. */
export function holds(fault: Fault): boolean {
  return fault.kind !== 'ip-change';
}

export function applyFault(fleet: SoakFleet, fault: Fault): void {
  const { topo } = fleet;
  const [victim] = fault.victims as [number];
  switch (fault.kind) {
    case 'one-way-out':
      for (const o of fault.spared) topo.cut(victim, o);
      return;
    case 'one-way-in':
      for (const o of fault.spared) topo.cut(o, victim);
      return;
    case 'partition':
      topo.partition([fault.victims, fault.spared]);
      return;
    case 'kill-restart':
      fleet.kill(victim);
      return;
    case 'ip-change':
      topo.changeAddress(victim);
      return;
  }
}

export function healFault(fleet: SoakFleet, fault: Fault): void {
  if (fault.kind === 'kill-restart') fleet.start(fault.victims[0] as number);
  else fleet.topo.heal();
}
