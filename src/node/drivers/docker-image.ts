/**
 * Makes a job's image present in the engine before a container is created from it. Through the agent's
 * registry endpoint when it is up (local store, then peers, then upstream: an image crosses the uplink once),
 * retagged to the name the job spec gives; directly when the endpoint fails or the image is pinned by digest.
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

  /** Present locally, or pulled: through the agent's endpoint when it is up, directly otherwise. */
  async ensure(image: string, options: CallOptions): Promise<void> {
    try {
      await this.call(
        `inspect image ${image}`,
        (abortSignal) => this.docker.getImage(image).inspect({ abortSignal } as Docker.ImageInspectOptions),
        options,
      );
      return;
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
    }
    const mirror = this.mirror?.();
    const ref = mirror ? parseImageRef(image) : undefined;
    // By digest Docker records the image under the pulled name only, so such images are pulled directly.
    if (mirror && ref && 'tag' in ref.reference) {
      const via = mirrorRef(mirror, ref);
      try {
        await this.pull(via, options);
        await this.retag(via, image, options);
        return;
      } catch (err) {
        // The agent's endpoint failing must not stop a pull the engine could do on its own.
        await this.pull(image, options).catch((direct: unknown) => {
          throw new DriverError(
            'image-pull-failed',
            `cannot pull ${image} through the agent (${(err as Error).message}) nor directly (${(direct as Error).message})`,
            'check that a peer or the upstream registry holds the image',
            { cause: direct },
          );
        });
        return;
      }
    }
    await this.pull(image, options);
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
    const hint = 'check the image name and tag, and that this device can reach its registry';
    try {
      await this.call(
        `pull ${image}`,
        async (abortSignal) => {
          const stream = (await this.docker.pull(image, { abortSignal })) as AsyncIterable<Buffer>;
          const splitter = new LineSplitter();
          for await (const chunk of stream) {
            for (const line of splitter.push(chunk)) {
              const event = line.trim() === '' ? {} : (parseJson(line) as { error?: string });
              if (event.error)
                throw new DriverError('image-pull-failed', `cannot pull ${image}: ${event.error}`, hint);
            }
          }
        },
        { ...options, ms: this.pullTimeoutMs },
      );
    } catch (err) {
      if (err instanceof DriverError) throw err;
      throw new DriverError('image-pull-failed', `cannot pull ${image}: ${engineMessage(err)}`, hint, {
        cause: err,
      });
    }
  }
}
