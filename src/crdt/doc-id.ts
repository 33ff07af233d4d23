import { varPathProblem } from './var-entries.js';

/**
 * Every replicated document has one owner class and one id: `job/<name>` (multi-writer, one per job so each stays
 * small and compacts on its own), `node/<peerId>` (single writer: the node itself), `trust/mesh` (operator
 * keys and revoked devices; any agent carries it, only operator signatures make its entries count) and
 * `var/<path>` (one encrypted variable: var-entries.ts).
 */
export type DocId = `job/${string}` | `node/${string}` | 'trust/mesh' | `var/${string}`;
export type ParsedDocId =
  | { kind: 'job'; name: string }
  | { kind: 'node'; peerId: string }
  | { kind: 'trust' }
  | { kind: 'var'; path: string };

export const TRUST_DOC_ID: DocId = 'trust/mesh';

const JOB_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const PEER_ID = /^[A-Za-z0-9._-]{1,128}$/;

export const jobDocId = (name: string): DocId => `job/${name}`;
export const nodeDocId = (peerId: string): DocId => `node/${peerId}`;
export const varDocId = (path: string): DocId => `var/${path}`;

export function isJobName(name: string): boolean {
  return JOB_NAME.test(name);
}

export function parseDocId(text: string): ParsedDocId | undefined {
  if (text === TRUST_DOC_ID) return { kind: 'trust' };
  if (text.startsWith('job/')) {
    const name = text.slice(4);
    return JOB_NAME.test(name) ? { kind: 'job', name } : undefined;
  }
  if (text.startsWith('node/')) {
    const peerId = text.slice(5);
    return PEER_ID.test(peerId) ? { kind: 'node', peerId } : undefined;
  }
  if (text.startsWith('var/')) {
    const path = text.slice(4);
    return varPathProblem(path) === undefined ? { kind: 'var', path } : undefined;
  }
  return undefined;
}

export function isDocId(text: string): text is DocId {
  return parseDocId(text) !== undefined;
}
