/**
 * Makes a job's image present in the engine before a container is created from it. Through the agent's
 * registry endpoint when it is up (local store, then peers, then upstream: an image crosses the uplink once),
 * retagged to the name the job spec gives (a tag), or run by image id (a digest); directly when the endpoint fails.
 */
import type Docker from 'dockerode';
import { parseJson } from '../../lib/json-text.js';
import { mirrorRef, parseImageRef } from '../../registry-p2p/image-ref.js';
import { engineMessage, statusOf } from './docker-engine-error.js';
import type { CallOptions } from './driver.js';
import { DriverError } from './driver-error.js';
import { LineSplitter } from './line-splitter.js';

/** One engine call under the driver's deadline, its failure translated (DockerDriver.call). */
export type EngineCall = <T>(
  what: string,
  fn: (abortSignal: AbortSignal) => Promise<T>,
  options?: CallOptions & { ms?: number },
) => Promise<T>;

export class DockerImages {
  constructor(
    private readonly docker: Docker,
    private readonly call: EngineCall,
    private readonly pullTimeoutMs: number,
    private readonly mirror: (() => string | undefined) | undefined,
  ) {}

  /**
   * Present locally, or pulled: through the agent's endpoint when it is up, directly otherwise. Returns the name
   * to create the container from: the spec's for a tag; for a pinned image (`repo:tag@sha256:…`) the engine's
   * image id, since the engine files an image pulled by digest under the name it was pulled as (the endpoint's),
   * and the id is what that digest fixed.
   */
  async ensure(image: string, options: CallOptions): Promise<string> {
    const mirror = this.mirror?.();
    const ref = parseImageRef(image);
    const pinned = ref !== undefined && 'digest' in ref.reference;
    const via = mirror && ref ? mirrorRef(mirror, ref) : undefined;
    for (const name of pinned && via ? [image, via] : [image]) {
      const id = await this.localId(name, options);
      if (id) return pinned ? id : image;
    }
    if (via) {
      try {
        await this.pull(via, options);
        if (pinned) return await this.id(via, options);
        await this.retag(via, image, options);
        return image;
      } catch {
        // The agent's endpoint failing must not stop a pull the engine could do on its own. When that fails too,
        // its error is the one shown: the engine's own words with the image's registry, under the spec's name
        // (the endpoint answers "not found" for any upstream failure, so its error hides the cause). A digest
        // pulled directly is still checked by the engine against the manifest it gets.
      }
    }
    if (!pinned) {
      await this.pull(image, options);
      return image;
    }
    // dockerode splits `repo:tag@digest` at the `@` and sends `repo:tag` as the name: pull the digest alone.
    const byDigest = image.replace(/:[^:/@]+@/, '@');
    await this.pull(byDigest, options);
    return await this.id(byDigest, options);
  }

  /** The engine's id of the image under `name`, or undefined when it has none. */
  private async localId(name: string, options: CallOptions): Promise<string | undefined> {
    try {
      return await this.id(name, options);
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  }

  private async id(name: string, options: CallOptions): Promise<string> {
    const info = await this.call(
      `inspect image ${name}`,
      (abortSignal) => this.docker.getImage(name).inspect({ abortSignal } as Docker.ImageInspectOptions),
      options,
    );
    return info.Id;
  }

  /** Gives the image pulled as `from` the spec's name, and drops the endpoint's name for it. */
  private async retag(from: string, to: string, options: CallOptions): Promise<void> {
    const colon = to.lastIndexOf(':');
    const tagged = colon > to.lastIndexOf('/');
    const repo = tagged ? to.slice(0, colon) : to;
    const tag = tagged ? to.slice(colon + 1) : 'latest';
    const image = this.docker.getImage(from);
    await this.call(
      `tag ${from} as ${to}`,
      (abortSignal) => image.tag({ repo, tag, abortSignal } as { repo: string }),
      options,
    );
    await this.call(
      `untag ${from}`,
      (abortSignal) => image.remove({ noprune: true, abortSignal } as { noprune: boolean }),
      options,
    );
  }

  /** Follows the pull's progress stream to its end: errors arrive inside it, under a 200 status. */
  private async pull(image: string, options: CallOptions): Promise<void> {
    try {
      await this.call(
        `pull ${image}`,
        async (abortSignal) => {
          const stream = (await this.docker.pull(image, { abortSignal })) as AsyncIterable<Buffer>;
          const splitter = new LineSplitter();
          for await (const chunk of stream) {
            for (const line of splitter.push(chunk)) {
              const event = line.trim() === '' ? {} : (parseJson(line) as { error?: string });
              if (event.error) throw pullError(image, event.error);
            }
          }
        },
        { ...options, ms: this.pullTimeoutMs },
      );
    } catch (err) {
      if (err instanceof DriverError) throw err;
      throw pullError(image, engineMessage(err), err);
    }
  }
}

type PullCause = 'manifest-unknown' | 'unauthorized' | 'unreachable' | 'other';

/** A failed pull in one line: the image, the true cause in a few words, and what to do about it. */
class PullError extends DriverError {
  constructor(
    readonly cause_: PullCause,
    image: string,
    what: string,
    hint: string,
    cause: unknown,
  ) {
    super('image-pull-failed', `cannot pull ${image}: ${what}`, hint, { cause });
  }
}

/**
 * The engine's words, which wrap the registry's in its own (`(HTTP code 404) unexpected - manifest for X not
 * found: manifest unknown: manifest unknown`), read for the cause an operator acts on.
 */
function pullError(image: string, engine: string, cause?: unknown): PullError {
  const text = engine.replace(/\s+/g, ' ').trim();
  const registry = registryOf(image);
  if (/manifest unknown|not found: manifest|name unknown|repository does not exist/i.test(text))
    return new PullError(
      'manifest-unknown',
      image,
      'manifest unknown',
      'no such image or tag in its registry',
      cause,
    );
  if (/unauthorized|authentication required|denied|no basic auth credentials/i.test(text))
    return new PullError(
      'unauthorized',
      image,
      `registry ${registry} refused access`,
      'check the registry credentials',
      cause,
    );
  const dial =
    /(connection refused|no such host|i\/o timeout|network is unreachable|no route to host|TLS handshake timeout|server gave HTTP response to HTTPS client|context deadline exceeded)/i.exec(
      text,
    );
  if (dial)
    return new PullError(
      'unreachable',
      image,
      `registry ${registry} unreachable (${dial[1]})`,
      'check that this device can reach it',
      cause,
    );
  const short = text.replace(/^\(HTTP code \d+\) [a-z ]+ - /, '').slice(0, 160);
  return new PullError('other', image, short, 'check the image name and its registry', cause);
}

function registryOf(image: string): string {
  const first = image.split('/')[0] ?? '';
  return image.includes('/') && /[.:]|^localhost$/.test(first) ? first : 'docker.io';
}
