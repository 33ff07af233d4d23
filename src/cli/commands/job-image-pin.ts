/**
 * `meshctl job run` pins a docker job's image to the manifest digest its tag names at submission (resolved by
 * the local agent's registry path), so the spec signed and stored says `repo:tag@sha256:…`: what runs is fixed
 * by the operator, whatever the tag or a peer says later.
 */
import type { ApiClient } from '../api-client.js';
import { CliError } from '../api-client.js';

export const NO_PIN = '--no-pin';
export const NO_PIN_HELP =
  'submit a docker image by its tag instead of pinning it to the digest the tag names now';

interface PinAnswer {
  readonly image: string;
  readonly digest: string;
  readonly source?: 'upstream' | 'stored' | { readonly peers: number; readonly asked: number };
  readonly upstreamError?: string;
}

/** The job source with its image pinned; unchanged for a digest already there, a non-docker job or a bad file. */
export async function pinJobSource(
  client: ApiClient,
  source: string,
  fileName: string,
  pin: boolean,
): Promise<string> {
  const { parseJobFile } = await import('../../crdt/job-file.js');
  const parsed = parseJobFile(source, fileName);
  // A bad file goes on as it is: the agent explains it with the same parser.
  if (!parsed.ok || parsed.spec.driver !== 'docker') return source;
  const image = parsed.spec.image;
  if (image.includes('@')) return source;
  if (!pin) {
    process.stderr.write(
      `warning: ${image} is submitted by tag (--no-pin): each device runs whatever the tag names when it pulls\n`,
    );
    return source;
  }
  let answer: PinAnswer;
  try {
    answer = await client.post<PinAnswer>('/v1/images/resolve', { image });
  } catch (err) {
    if (!(err instanceof CliError)) throw err;
    throw new CliError(
      `${err.message}; fix the image or its registry, or pass --no-pin to submit the tag unpinned`,
      err.exitCode,
    );
  }
  const hearsay = pinWarning(image, answer);
  if (hearsay) process.stderr.write(`${hearsay}\n`);
  const { withImage } = await import('../../crdt/job-file-image.js');
  const pinned = withImage(source, fileName, answer.image);
  const check = parseJobFile(pinned, fileName);
  if (!check.ok || check.spec.driver !== 'docker' || check.spec.image !== answer.image)
    throw new CliError(
      `could not write the pinned image ${answer.image} into ${fileName}; nothing was submitted`,
    );
  return pinned;
}

/** `repo:tag (sha256:0123456789ab…)` for a pinned image, the name itself for a tag; undefined for no image. */
export function imageText(spec: unknown): string | undefined {
  const image = (spec as { image?: unknown } | null)?.image;
  if (typeof image !== 'string') return undefined;
  const at = image.indexOf('@');
  if (at < 0) return image;
  const digest = image.slice(at + 1);
  return `${at === 0 ? '?' : image.slice(0, at)} (${digest.slice(0, 'sha256:'.length + 12)}…)`;
}

/**
 * The operator signs the digest: when the image's registry did not name it, say who did, so that whoever signed
 * a pin taken from a stale answer or a peer majority knows it (`job status` shows the digest; submitting again
 * once the registry answers pins afresh).
 */
export function pinWarning(image: string, answer: PinAnswer): string | undefined {
  const source = answer.source;
  if (source === undefined || source === 'upstream') return undefined;
  const digest = answer.digest.slice(0, 19);
  const why = answer.upstreamError ? ` (its registry did not answer: ${answer.upstreamError})` : '';
  const who =
    source === 'stored'
      ? "the agent's last answer from the registry"
      : `${source.peers} of ${source.asked} peers asked`;
  return `warning: ${image} pinned to ${digest}… as ${who} named it${why}`;
}
