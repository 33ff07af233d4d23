/** What a decoder of peer input returns: never a throw, since the bytes come from the network. */
export type Decoded<T> = { ok: true; value: T } | { ok: false; error: string };
