import { type Digest, parseDigest } from './digest.js';

/** An image reference with Docker's defaults applied: `busybox` is `docker.io/library/busybox:latest`. */
export interface ImageRef {
  /** Registry host, with port when it has one; `docker.io` for Docker Hub. */
  readonly registry: string;
  readonly repository: string;
  /** A tag written beside a digest (`app:1.2@sha256:…`, as `meshctl job run` pins images) is checked, then dropped. */
  readonly reference: { readonly tag: string } | { readonly digest: Digest };
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

export function isTag(text: string): boolean {
  return TAG.test(text);
}

/** A repository path as the distribution spec allows it: lowercase components joined by single slashes. */
export function isRepository(text: string): boolean {
  return text.length <= 255 && text.split('/').every((c) => COMPONENT.test(c));
}

export function parseImageRef(input: string): ImageRef | undefined {
  if (input.length > 512) return undefined;
  let rest = input;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = parseDigest(rest.slice(at + 1));
    if (!digest) return undefined;
    rest = rest.slice(0, at);
  }
  let tag = 'latest';
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) return undefined;
  }
  const parts = rest.split('/');
  let registry = 'docker.io';
  const first = parts[0] ?? '';
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    registry = first.toLowerCase();
    parts.shift();
  }
  if (registry === 'docker.io' && parts.length === 1) parts.unshift('library');
  if (parts.length === 0 || !parts.every((p) => COMPONENT.test(p))) return undefined;
  return {
    registry,
    repository: parts.join('/'),
    reference: digest ? { digest } : { tag },
  };
}

/** The canonical name: a pinned image is its digest alone, whatever tag was written beside it. */
export function formatImageRef(ref: ImageRef): string {
  const suffix = 'tag' in ref.reference ? `:${ref.reference.tag}` : `@${ref.reference.digest}`;
  return `${ref.registry}/${ref.repository}${suffix}`;
}

/**
 * Docker's reference grammar allows no `:` past the first component, so the upstream host rides in the path as
 * one component with its port after `_` (host names never contain `_`): `127.0.0.1:5000` → `127.0.0.1_5000`.
 */
export function encodeRegistry(registry: string): string {
  const colon = registry.lastIndexOf(':');
  return colon < 0 ? registry : `${registry.slice(0, colon)}_${registry.slice(colon + 1)}`;
}

export function decodeRegistry(component: string): string | undefined {
  const m = /^([a-z0-9.-]+?)(?:_(\d{1,5}))?$/.exec(component);
  if (!m?.[1]) return undefined;
  return m[2] ? `${m[1]}:${m[2]}` : m[1];
}

/**
 * What Docker pulls from the agent's endpoint for `image`: `127.0.0.1:PORT/<upstream>/<repo>:<tag>`, or
 * `…/<repo>@<digest>` for a pinned image (the tag beside a digest is dropped: the digest alone is pulled).
 */
export function mirrorRef(endpoint: string, ref: ImageRef): string {
  const suffix = 'tag' in ref.reference ? `:${ref.reference.tag}` : `@${ref.reference.digest}`;
  return `${endpoint}/${encodeRegistry(ref.registry)}/${ref.repository}${suffix}`;
}

/** Tags by `registry/repository:tag`, the key tags are stored and asked under. */
export function tagKey(registry: string, repository: string, tag: string): string {
  return `${registry}/${repository}:${tag}`;
}
