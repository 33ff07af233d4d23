import xsalsa20 from 'xsalsa20';

/**
 * Below the cipher's initial WebAssembly memory (over 500 KiB), so an update never needs it to grow.
 */
const SLICE_BYTES = 64 * 1024;

let bounded = false;

/**
 * A closed mesh encrypts every connection with @libp2p/pnet, whose cipher (`xsalsa20` 1.2.0) keeps all its state in
 * one WebAssembly memory shared by every cipher in the process. An update larger than that memory (pnet hands
 * over a connection's whole pending write buffer once the socket drains, easily over 1 MiB after backpressure)
 * grows it, which detaches every other cipher's view of it; `realloc` then sizes each growth from the caller's
 * view, now empty, so from then on every update by another cipher grows the memory again, by its whole length.
 * Within about a thousand packets the memory hits its maximum and the RangeError is thrown from a socket's event
 * handler: an uncaught exception that ends the process. Updates sliced below the initial memory never grow it;
 * the cipher is a stream cipher, so slices give the same bytes. Idempotent.
 */
export function boundPnetCipher(): void {
  if (bounded) return;
  bounded = true;
  const update = xsalsa20.prototype.update;
  xsalsa20.prototype.update = function (input: Uint8Array, output = new Uint8Array(input.length)) {
    if (input.length <= SLICE_BYTES) return update.call(this, input, output);
    for (let at = 0; at < input.length; at += SLICE_BYTES) {
      const end = Math.min(at + SLICE_BYTES, input.length);
      update.call(this, input.subarray(at, end), output.subarray(at, end));
    }
    return output;
  };
}
