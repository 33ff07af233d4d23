/** The cipher @libp2p/pnet uses (xsalsa20 1.2.0 ships no types); only what net/pnet-cipher.ts touches. */
declare module 'xsalsa20' {
  interface XSalsa20 {
    update(input: Uint8Array, output?: Uint8Array): Uint8Array;
  }
  interface XSalsa20Constructor {
    new (nonce: Uint8Array, key: Uint8Array): XSalsa20;
    (nonce: Uint8Array, key: Uint8Array): XSalsa20;
    prototype: XSalsa20;
  }
  const xsalsa20: XSalsa20Constructor;
  export default xsalsa20;
}
