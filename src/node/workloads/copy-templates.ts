/**
 * A copy's templates (crdt/job-spec-templates.ts), rendered with mustache into its directory on the host
 * (drivers/copy-dir.ts) before every start, and again whenever their data may have changed, debounced. A file is
 * written only when its text changes, atomically (a new file renamed over the old, so a program never reads half
 * of one); then the copy is restarted (any changed template with changeMode restart) or signalled (each changed
 * template's changeSignal), or left be. A render that fails before a start fails the start, with the reason;
 * one that fails later keeps the last good file and is logged.
 *
 * Data: the copy's own values (node, alloc, job: the ones `${...}` knows) and, under its key, what each
 * TemplateDataProvider gives: the agent plugs in the service catalog (`services`); a provider of secrets would
 * be one more, read at render time and never kept here.
 */
import { randomUUID } from 'node:crypto';
import { lstat, mkdir, readFile, realpath, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, sep } from 'node:path';
import Mustache from 'mustache';
import { type JobTemplate, TEMPLATE_LIMITS } from '../../crdt/job-spec-templates.js';
import type { Logger } from '../../lib/logger.js';
import { copyDir } from '../drivers/copy-dir.js';
import type { Driver, DriverName } from '../drivers/driver.js';
import type { CopyTemplates } from './copy-setup.js';
import type { RunningCopy, SetupCopy } from './runner-context.js';
import { deviceValuesFor, type SelfNode } from './task-spec.js';

/** One source of template data, rendered under `key`. */
export interface TemplateDataProvider {
  /** The top-level name templates read it under, e.g. `services`; never node, alloc or job. */
  readonly key: string;
  /** Its data for one copy, as of now. */
  read(copy: SetupCopy): unknown;
  /** Calls `listener` whenever its data may have changed; returns the unsubscribe. */
  onChange(listener: () => void): () => void;
}

export interface TemplateOptions {
  readonly dataDir: string;
  /** This node's peer id and what it says of itself, for the copy's own values. */
  readonly self: string;
  readonly selfNode: SelfNode;
  readonly drivers: ReadonlyMap<DriverName, Driver>;
  readonly providers: readonly TemplateDataProvider[];
  readonly log: Pick<Logger, 'info' | 'warn'>;
  /** Quiet time after a change before rendering again, so a burst of changes renders once. */
  readonly debounceMs?: number;
}

interface Following {
  readonly copy: RunningCopy;
  timer?: NodeJS.Timeout | undefined;
  /** When the pending render was first asked for: a stream of changes delays it at most 10 quiet times. */
  since?: number | undefined;
  /** The render under way; the next waits for it. */
  rendering: Promise<void>;
}

const OWN_KEYS = new Set(['node', 'alloc', 'job']);

export class RenderedTemplates implements CopyTemplates {
  readonly #following = new Map<string, Following>();
  /** The text last written per copy and destination, so a render that changes nothing touches no disk. */
  readonly #written = new Map<string, Map<string, string>>();
  readonly #unsubscribe: (() => void)[];

  constructor(private readonly options: TemplateOptions) {
    this.#unsubscribe = options.providers
      .filter((p) => !OWN_KEYS.has(p.key))
      .map((p) => p.onChange(() => this.#changed()));
  }

  async render(copy: SetupCopy, ports: Readonly<Record<string, number>>): Promise<string | undefined> {
    if (!copy.spec.templates?.length) return undefined;
    const dir = copyDir(this.options.dataDir, copy.driver, copy.allocId);
    // Before a start the files are always checked on disk: the directory may be left from an earlier run.
    await this.#renderAll(copy, ports, dir, false);
    return dir;
  }

  follow(copy: RunningCopy): void {
    if (!copy.spec.templates?.length) return;
    clearTimeout(this.#following.get(copy.allocId)?.timer);
    const entry: Following = { copy, rendering: Promise.resolve() };
    this.#following.set(copy.allocId, entry);
    // Data may have changed between the render before the start and now.
    this.#schedule(entry);
  }

  unfollow(allocId: string): void {
    clearTimeout(this.#following.get(allocId)?.timer);
    this.#following.delete(allocId);
    this.#written.delete(allocId);
  }

  /**
   * The copy ended: a docker copy's rendered files go (an exec copy's go with its directory). Removed whatever
   * the driver, since a copy adopted after an agent restart was never rendered by this instance.
   */
  async ended(allocId: string): Promise<void> {
    this.unfollow(allocId);
    await rm(copyDir(this.options.dataDir, 'docker', allocId), { recursive: true, force: true }).catch(
      (err: unknown) => this.options.log.warn({ allocId, err }, 'cannot remove rendered templates'),
    );
  }

  close(): void {
    for (const unsubscribe of this.#unsubscribe) unsubscribe();
    for (const allocId of [...this.#following.keys()]) this.unfollow(allocId);
  }

  #changed(): void {
    for (const entry of this.#following.values()) this.#schedule(entry);
  }

  #schedule(entry: Following): void {
    const quiet = this.options.debounceMs ?? 1_000;
    const now = Date.now();
    if (entry.timer !== undefined && now - (entry.since ?? now) >= 10 * quiet) return;
    clearTimeout(entry.timer);
    entry.since ??= now;
    entry.timer = setTimeout(() => {
      entry.timer = undefined;
      entry.since = undefined;
      entry.rendering = entry.rendering.then(() => this.#refresh(entry));
    }, quiet);
    entry.timer.unref();
  }

  async #refresh(entry: Following): Promise<void> {
    const { copy } = entry;
    if (this.#following.get(copy.allocId) !== entry || !copy.current()) return;
    let changed: JobTemplate[];
    try {
      const dir = copyDir(this.options.dataDir, copy.driver, copy.allocId);
      changed = await this.#renderAll(copy, copy.ports, dir, true);
    } catch (err) {
      this.options.log.warn(
        { allocId: copy.allocId, err },
        'cannot render templates again; keeping the last',
      );
      return;
    } finally {
      // Unfollowed while rendering: what this render remembered goes too.
      if (this.#following.get(copy.allocId) !== entry) this.#written.delete(copy.allocId);
    }
    if (changed.length === 0 || !copy.current()) return;
    const files = changed.map((t) => t.destination).join(', ');
    if (changed.some((t) => t.changeMode === 'restart')) {
      this.options.log.info({ allocId: copy.allocId, files }, 'templates changed: restarting the copy');
      copy.restart();
      return;
    }
    const signals = new Set(
      changed.flatMap((t) => (t.changeMode === 'signal' && t.changeSignal ? [t.changeSignal] : [])),
    );
    for (const signal of signals) {
      this.options.log.info(
        { allocId: copy.allocId, files, signal },
        'templates changed: signalling the copy',
      );
      await this.options.drivers
        .get(copy.driver)
        ?.signal(copy.allocId, signal)
        .catch((err: unknown) =>
          this.options.log.warn({ allocId: copy.allocId, err, signal }, 'cannot signal'),
        );
    }
  }

  /**
   * Renders every template of the copy; returns those whose file changed. With `skipUnchanged`, a text equal to
   * the one last written is not checked on disk again.
   */
  async #renderAll(
    copy: SetupCopy,
    ports: Readonly<Record<string, number>>,
    dir: string,
    skipUnchanged: boolean,
  ): Promise<JobTemplate[]> {
    const view: Record<string, unknown> = {};
    for (const provider of this.options.providers) {
      if (!OWN_KEYS.has(provider.key)) view[provider.key] = await provider.read(copy);
    }
    const own = deviceValuesFor(copy.spec, {
      allocId: copy.allocId,
      jobVersion: copy.jobVersion,
      owner: this.options.self,
      node: this.options.selfNode,
      ports,
    });
    Object.assign(view, own);
    const changed: JobTemplate[] = [];
    const written = this.#written.get(copy.allocId) ?? new Map<string, string>();
    this.#written.set(copy.allocId, written);
    for (const template of copy.spec.templates ?? []) {
      // Config files, not HTML: values go in as they are.
      const text = Mustache.render(template.data, view, {}, { escape: String });
      const size = Buffer.byteLength(text);
      if (size > TEMPLATE_LIMITS.rendered) {
        throw new Error(
          `template ${template.destination} renders to ${size} bytes, more than ${TEMPLATE_LIMITS.rendered}`,
        );
      }
      if (skipUnchanged && written.get(template.destination) === text) continue;
      if (await writeIfChanged(dir, template.destination, text)) changed.push(template);
      written.set(template.destination, text);
    }
    return changed;
  }
}

/**
 * Writes `text` to `destination` under `dir` unless it holds that already. The spec keeps destinations inside
 * the directory; a copy that swapped one of its directories for a link leading out of it gets an error, not a
 * write through the link.
 */
async function writeIfChanged(dir: string, destination: string, text: string): Promise<boolean> {
  const path = join(dir, destination);
  if (!path.startsWith(dir + sep))
    throw new Error(`template destination ${destination} leaves the copy's directory`);
  await mkdir(dirname(path), { recursive: true });
  const [root, parent] = await Promise.all([realpath(dir), realpath(dirname(path))]);
  if (parent !== root && !parent.startsWith(root + sep))
    throw new Error(`template destination ${destination}: its directory leads out of the copy's directory`);
  const target = join(parent, basename(path));
  const before = await lstat(target).then(
    (s) => (s.isFile() && s.size === Buffer.byteLength(text) ? readFile(target, 'utf8') : undefined),
    () => undefined,
  );
  if (before === text) return false;
  const temporary = join(parent, `.${basename(path)}.${randomUUID()}.tmp`);
  try {
    await writeFile(temporary, text, { flag: 'wx', mode: 0o644 });
    await rename(temporary, target);
  } catch (err) {
    await rm(temporary, { force: true });
    throw err;
  }
  return true;
}
