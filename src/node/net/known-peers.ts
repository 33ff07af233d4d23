import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { parseJson } from '../../lib/json-text.js';

export interface KnownPeer {
  peerId: string;
  addresses: string[];
  lastSeen: number;
}

/** Only the most recently seen peers are kept: enough to rejoin, bounded on any fleet size. */
export const MAX_KNOWN_PEERS = 256;
/** lastSeen is stored coarsely so that an idle mesh does not rewrite the file (flash wear). */
const LAST_SEEN_RESOLUTION_MS = 60 * 60_000;

/**
 * The peers this agent can re-dial after a restart when its bootstrap peer is gone. Written only when the set
 * of peers or their addresses changes, never for beats alone.
 */
export class KnownPeers {
  readonly #path: string;
  readonly #peers = new Map<string, KnownPeer>();
  #dirty = false;

  private constructor(path: string) {
    this.#path = path;
  }

  static async load(path: string, onCorrupt: (reason: string) => void): Promise<KnownPeers> {
    const store = new KnownPeers(path);
    let text: string | undefined;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') onCorrupt((err as Error).message);
    }
    if (text !== undefined) {
      try {
        const parsed = parseJson(text) as { peers?: unknown };
        for (const peer of Array.isArray(parsed.peers) ? parsed.peers : []) {
          if (isKnownPeer(peer)) store.#peers.set(peer.peerId, peer);
        }
      } catch (err) {
        // Losing the address book costs a re-join through --join, never a refusal to start.
        onCorrupt((err as Error).message);
      }
    }
    return store;
  }

  list(): KnownPeer[] {
    return [...this.#peers.values()].sort((a, b) => b.lastSeen - a.lastSeen);
  }

  get(peerId: string): KnownPeer | undefined {
    return this.#peers.get(peerId);
  }

  remember(peerId: string, addresses: string[], now: number): void {
    const known = this.#peers.get(peerId);
    const coarse = now - (now % LAST_SEEN_RESOLUTION_MS);
    if (known && sameSet(known.addresses, addresses) && known.lastSeen >= coarse) return;
    this.#peers.set(peerId, {
      peerId,
      addresses: [...addresses],
      lastSeen: Math.max(coarse, known?.lastSeen ?? 0),
    });
    if (this.#peers.size > MAX_KNOWN_PEERS) {
      const oldest = this.list().at(-1);
      if (oldest) this.#peers.delete(oldest.peerId);
    }
    this.#dirty = true;
  }

  get dirty(): boolean {
    return this.#dirty;
  }

  async save(): Promise<void> {
    if (!this.#dirty) return;
    this.#dirty = false;
    await mkdir(dirname(this.#path), { recursive: true });
    const tmp = `${this.#path}.tmp`;
    const file = await open(tmp, 'w', 0o600);
    try {
      await file.writeFile(JSON.stringify({ version: 1, peers: this.list() }));
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(tmp, this.#path);
  }
}

function isKnownPeer(value: unknown): value is KnownPeer {
  const p = value as KnownPeer;
  return (
    typeof p === 'object' &&
    p !== null &&
    typeof p.peerId === 'string' &&
    Array.isArray(p.addresses) &&
    p.addresses.every((a) => typeof a === 'string') &&
    typeof p.lastSeen === 'number'
  );
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}
