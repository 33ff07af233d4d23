import type { JobVersion, JobView } from '../../crdt/job-log.js';
import { type JobSpecRead, type JobSpecs, jobVersion, readJobSpec } from '../../crdt/job-specs.js';
import type { AllocStatus } from '../../crdt/records.js';
import type { AllocRow } from './placement-service.js';

/** What the image rules read: the replicated state, and placement's rows and validated specs (when started). */
export interface ImageUseDeps {
  readonly self: string;
  readonly state: {
    allocations(): AllocStatus[];
    job(name: string): JobView | undefined;
    jobs(): JobView[];
  };
  readonly placement: () => { allocs(): AllocRow[]; readonly specs: Pick<JobSpecs, 'read'> } | undefined;
  /** One spelling per image (`web:1` and `docker.io/library/web:1` alike): the registry's reference rules. */
  readonly normalImage: (image: string) => string;
}

/** Which images the layer store must keep, and which a remote prepull may ask for. */
export class ImageUse {
  readonly #deps: ImageUseDeps;

  constructor(deps: ImageUseDeps) {
    this.#deps = deps;
  }

  /** Images of the copies this node runs or is about to start: the store never evicts their blobs. */
  inUse(): string[] {
    const { self, state } = this.#deps;
    // Keyed by job and version: mid-rollout an old copy runs beside its successor (a surge).
    const copies = new Map<string, [string, number]>();
    const use = (job: string, version: number) => copies.set(`${job}@${version}`, [job, version]);
    for (const a of state.allocations())
      if (a.node === self && !['complete', 'failed', 'lost'].includes(a.state)) use(a.job, a.jobVersion);
    for (const row of this.#deps.placement()?.allocs() ?? [])
      if (row.node === self && row.desired !== 'stop') use(row.job, row.jobVersion);
    const images = new Set<string>();
    for (const [job, version] of copies.values()) {
      const view = state.job(job);
      const entry = jobVersion(view, version) ?? view?.current;
      const spec = entry ? this.#readSpec(entry) : undefined;
      if (spec?.ok && spec.value.driver === 'docker' && spec.value.image) images.add(spec.value.image);
    }
    return [...images];
  }

  /** Whether any version of any job in the state names `ref` (in a closed mesh: operator-signed ones only). */
  named(ref: string): boolean {
    return this.#jobImages().has(this.#deps.normalImage(ref));
  }

  #jobImages(): Set<string> {
    const images = new Set<string>();
    for (const view of this.#deps.state.jobs())
      for (const entry of view.history) {
        const spec = this.#readSpec(entry);
        if (!spec.ok || spec.value.driver !== 'docker') continue;
        const { image } = spec.value;
        images.add(this.#deps.normalImage(image));
        // A pinned image's tag stays a name the operator signed: a pre-pull by that tag is still accepted.
        const tagged = /^(.*:[^/:@]+)@/.exec(image)?.[1];
        if (tagged) images.add(this.#deps.normalImage(tagged));
      }
    return images;
  }

  /** Through placement's cache: every version placement reads is validated once, not once per question. */
  #readSpec(entry: JobVersion): JobSpecRead {
    return this.#deps.placement()?.specs.read(entry) ?? readJobSpec(entry);
  }
}
