/**
 * The `var/<path>` documents of a replica: writes and views of encrypted variables (var-entries.ts says what
 * counts). Any agent carries them and writes to them on an operator's or a sealer's behalf; only signatures make
 * entries count, as for job documents. A document is rewritten fresh at the next epoch once it holds more than
 * `MAX_VERSIONS` versions, keeping the newest `KEPT_VERSIONS`, their added seals and every removal.
 */
import { compareText } from '../lib/compare-text.js';
import * as A from './automerge.js';
import { type DocId, parseDocId, varDocId } from './doc-id.js';
import { type FlatDoc, freshDoc, writeEntries } from './flat-doc.js';
import type { GossipMessage } from './gossip-message.js';
import { ReplicaDocs } from './replica-docs.js';
import type { StagedWrite } from './staged-write.js';
import type { TrustView } from './trust.js';
import {
  type AddedSeal,
  addedSealProblem,
  deriveVar,
  keptVarEntries,
  removalKey,
  removalProblem,
  sealKeyOf,
  VAR_LIMITS,
  type VarEntriesView,
  type VarRemoval,
  type VarVersion,
  type VarView,
  varEntryText,
  varPathProblem,
  versionKey,
  versionProblem,
} from './var-entries.js';

const MAX_VERSIONS = 8;
const KEPT_VERSIONS = 2;

export type VarEntry =
  | { readonly kind: 'version'; readonly value: VarVersion }
  | { readonly kind: 'seal'; readonly value: AddedSeal }
  | { readonly kind: 'removal'; readonly value: VarRemoval };

export abstract class VarDocs extends ReplicaDocs {
  /** Views by document copy and trust view: a new copy or a trust change derives again. */
  readonly #views = new WeakMap<FlatDoc, { trust: TrustView; view: VarEntriesView }>();

  abstract trust(): TrustView;

  /** A variable's derived view; `current` is undefined when it has no version that counts (or was removed). */
  variable(path: string): VarEntriesView {
    const slot = varPathProblem(path) === undefined ? this.slot(varDocId(path)) : undefined;
    if (!slot) return { current: undefined, highest: 0, versions: 0, rejected: [] };
    const trust = this.trust();
    const cached = this.#views.get(slot.doc);
    if (cached?.trust === trust) return cached.view;
    const view = deriveVar(path, this.entries(slot), trust.operators, trust.revoked);
    this.#views.set(slot.doc, { trust, view });
    return view;
  }

  /** Every variable with a current version, by path. */
  variables(): VarView[] {
    const out: VarView[] = [];
    for (const id of this.ids()) {
      const parsed = parseDocId(id);
      const current = parsed?.kind === 'var' ? this.variable(parsed.path).current : undefined;
      if (current) out.push(current);
    }
    return out.sort((a, b) => compareText(a.path, b.path));
  }

  /**
   * Adds one entry; one that would not count here is refused with the reason (thrown as a RangeError), so the
   * operator hears it at once. 'duplicate' when it is already there.
   */
  addVarEntry(
    path: string,
    entry: VarEntry,
    now: number,
  ): { outcome: 'added' | 'duplicate'; publish: GossipMessage[] } {
    const problem = varPathProblem(path) ?? this.entryProblem(path, entry);
    if (problem) throw new RangeError(`variable ${path}: ${problem}`);
    const key =
      entry.kind === 'version'
        ? versionKey(entry.value)
        : entry.kind === 'seal'
          ? sealKeyOf(entry.value)
          : removalKey(entry.value);
    const id = varDocId(path);
    const text = varEntryText(entry.value);
    const slot = this.slot(id);
    if (!slot) return { outcome: 'added', publish: [this.fresh(id, 0, [[key, text]], now)] };
    const next = writeEntries(slot.doc, [[key, text]], [], now);
    if (next === slot.doc) return { outcome: 'duplicate', publish: [] };
    this.set(id, next);
    if (entry.kind === 'version' && this.variable(path).versions > MAX_VERSIONS) {
      const kept = keptVarEntries(this.entries(this.slot(id)!), KEPT_VERSIONS);
      return { outcome: 'added', publish: [this.fresh(id, slot.epoch + 1, kept, now)] };
    }
    return {
      outcome: 'added',
      publish: [{ docId: id, epoch: slot.epoch, changes: [A.getLastLocalChange(next)!] }],
    };
  }

  /** `addVarEntry` computed on a copy (as `stageJobEvent`): the shell stores it, then `applyStaged`. */
  stageVarEntry(path: string, entry: VarEntry, now: number): StagedWrite | undefined {
    return this.stage(varDocId(path), () => this.addVarEntry(path, entry, now));
  }

  private entryProblem(path: string, entry: VarEntry): string | undefined {
    const { operators } = this.trust();
    if (entry.kind === 'seal') {
      const current = this.variable(path).current;
      if (current?.id !== entry.value.version) return 'the seal is not for the current version';
      if (this.trust().revoked.has(entry.value.to)) return `device ${entry.value.to} is revoked`;
      return addedSealProblem(entry.value);
    }
    if (entry.kind === 'removal') return removalProblem(path, entry.value, operators);
    const problem = versionProblem(path, entry.value, operators);
    if (problem) return problem;
    const view = this.variable(path);
    if (entry.value.version <= view.highest)
      return `version ${entry.value.version} is not newer than ${view.highest}: plan again`;
    if (!view.current && this.variables().length >= VAR_LIMITS.vars)
      return `the mesh holds ${VAR_LIMITS.vars} variables, the most it may: remove one first (meshctl var rm)`;
    return undefined;
  }

  private fresh(
    id: DocId,
    epoch: number,
    entries: Iterable<readonly [string, string]>,
    now: number,
  ): GossipMessage {
    const doc = freshDoc(this.actor, epoch, entries, now);
    this.set(id, doc);
    return { docId: id, epoch, changes: A.getAllChanges(doc) };
  }
}
