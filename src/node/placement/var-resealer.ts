/**
 * Seals a variable's data key to devices that became eligible after it was put (a job granted it now fits them,
 * a device joined) and to operators added since, so a new device runs a granted job without the operator
 * putting the variable again. In a mesh without servers someone must do it: a device that already holds a seal
 * for the current version, and of those exactly one per (version, newcomer): the alive holder whose hash with the
 * pair is lowest (rendezvous hashing), so the mesh does not race to write the same seal, and a holder that is
 * down hands the job to the next. Views that disagree on liveness may both seal: the entries share a key and the
 * two seals hold the same data key, so either is right. Why this is safe, and its limits: docs/security.md.
 */
import { randomBytes } from 'node:crypto';
import type { MeshState } from '../../crdt/mesh-state.js';
import type { Sign } from '../../crdt/signature.js';
import { signAddedSeal, type VarView, varContext } from '../../crdt/var-entries.js';
import { openDataKey, sealTo } from '../../crdt/var-seal.js';
import { sha256Hex } from '../../lib/digest.js';
import type { Logger } from '../../lib/logger.js';
import type { DurableWrites } from '../state/durable-write.js';
import type { SpecReader } from './placement-input.js';
import { type Recipient, varRecipientsFinder } from './var-recipients.js';

/** Seals written per pass: a mesh that gains a thousand devices at once is sealed in over a few passes. */
const SEALS_PER_PASS = 64;
const DEBOUNCE_MS = 1_000;

export interface VarResealerDeps {
  readonly self: string;
  readonly secret: Uint8Array;
  readonly sign: Sign;
  readonly state: () => {
    readonly state: MeshState;
    readonly writes: DurableWrites;
    onChange(l: () => void): () => void;
  };
  readonly readSpec: () => SpecReader;
  /** Peers this agent hears now (liveness `alive`). */
  readonly alive: () => ReadonlySet<string>;
  readonly log: Pick<Logger, 'info' | 'warn'>;
  readonly now: () => number;
}

/** Which holder seals `view` to `newcomer`: pure, so every agent that agrees on who is alive picks the same. */
export function chosenSealer(
  view: VarView,
  newcomer: string,
  holders: readonly string[],
): string | undefined {
  let best: { holder: string; rank: string } | undefined;
  for (const holder of holders) {
    const rank = sha256Hex(`${view.id}\n${newcomer}\n${holder}`);
    if (!best || rank < best.rank) best = { holder, rank };
  }
  return best?.holder;
}

export class VarResealer {
  readonly name = 'var resealer';
  readonly #deps: VarResealerDeps;
  #timer: NodeJS.Timeout | undefined;
  #unsubscribe: (() => void) | undefined;
  #running = false;

  constructor(deps: VarResealerDeps) {
    this.#deps = deps;
  }

  start(): void {
    this.#unsubscribe = this.#deps.state().onChange(() => this.#schedule());
    this.#schedule();
  }

  stop(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    clearTimeout(this.#timer);
  }

  #schedule(): void {
    if (!this.#unsubscribe || this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.pass().catch((err: unknown) => this.#deps.log.warn({ err }, 'cannot re-seal variables'));
    }, DEBOUNCE_MS);
    this.#timer.unref();
  }

  /** One pass over every variable; returns how many seals it wrote. */
  async pass(): Promise<number> {
    if (this.#running) return 0;
    this.#running = true;
    try {
      const { state, writes } = this.#deps.state();
      const alive = this.#deps.alive();
      const views = { jobs: state.jobs(), nodes: state.nodes(), allocations: [] };
      const devices = new Set(views.nodes.map((n) => n.peerId));
      const recipients = varRecipientsFinder(views, state.trust().operators, this.#deps.readSpec());
      let written = 0;
      for (const view of state.variables()) {
        if (written >= SEALS_PER_PASS || !view.seals.has(this.#deps.self)) continue;
        const holders = [...view.seals.keys()].filter(
          (id) => devices.has(id) && (id === this.#deps.self || alive.has(id)),
        );
        const due = recipients(view.path)
          .filter((r) => !view.seals.has(r.id) && chosenSealer(view, r.id, holders) === this.#deps.self)
          .slice(0, SEALS_PER_PASS - written);
        if (due.length === 0) continue;
        const key = openDataKey(view, this.#deps.self, this.#deps.secret);
        if (!key.ok) {
          this.#deps.log.warn({ path: view.path, reason: key.error }, 'cannot open a variable to re-seal it');
          continue;
        }
        for (const recipient of due) {
          if (await this.#seal(view, key.value, recipient, writes)) written++;
        }
      }
      return written;
    } finally {
      this.#running = false;
    }
  }

  async #seal(
    view: VarView,
    dataKey: Uint8Array,
    recipient: Recipient,
    writes: DurableWrites,
  ): Promise<boolean> {
    try {
      const seal = sealTo(dataKey, recipient.pub, new Uint8Array(randomBytes(32)), varContext(view.version));
      const entry = signAddedSeal(
        { version: view.id, to: recipient.id, seal, by: this.#deps.self },
        this.#deps.sign,
      );
      const added = await writes.run(() =>
        writes.addVarEntry(view.path, { kind: 'seal', value: entry }, this.#deps.now()),
      );
      if (added)
        this.#deps.log.info(
          { path: view.path, version: view.version.version, to: recipient.id, kind: recipient.kind },
          'sealed a variable to a newly eligible recipient',
        );
      return added;
    } catch (err) {
      this.#deps.log.warn({ path: view.path, to: recipient.id, err }, 'cannot re-seal a variable');
      return false;
    }
  }
}
