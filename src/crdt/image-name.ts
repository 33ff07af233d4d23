/**
 * Docker's image reference grammar, as a check on what a job file names: `[host[:port]/]path[:tag][@digest]`.
 * The registry code parses references with Docker's defaults (src/registry-p2p/image-ref.ts); this pure copy of
 * the grammar lets validation refuse `--privileged` or `../../etc/passwd` without the replicated core importing
 * the node side. The two must accept the same strings: test/crdt/image-name.test.ts holds them to that.
 */
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const HOST =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$/;

/** Why `input` is not an image reference, or undefined when it is one. */
export function imageRefProblem(input: string): string | undefined {
  let rest = input;
  const at = rest.indexOf('@');
  if (at >= 0) {
    if (!DIGEST.test(rest.slice(at + 1))) return 'the digest after "@" must be sha256: and 64 hex digits';
    rest = rest.slice(0, at);
  }
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    if (!TAG.test(rest.slice(colon + 1))) {
      return 'the tag after ":" must be 1-128 letters, digits, "_", "." or "-", not starting with "." or "-"';
    }
    rest = rest.slice(0, colon);
  }
  const parts = rest.split('/');
  const first = parts[0] ?? '';
  // Docker's rule: a first part with a dot or a port, or `localhost`, names a registry host.
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    if (!HOST.test(first)) return `"${first}" is not a registry host name`;
    parts.shift();
  }
  if (parts.every((p) => COMPONENT.test(p))) return undefined;
  return 'must be an image reference such as nginx:1.27 or registry.example.com/team/app@sha256:…: path parts are lowercase letters and digits, separated by ".", "_" or "-"';
}
