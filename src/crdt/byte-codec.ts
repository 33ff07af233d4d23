import { err, ok, type Result } from '../lib/result.js';

/** Growable buffer for the small binary codecs (gossip, sync, storage): unsigned LEB128 varints and blobs. */
export class ByteWriter {
  private buf = new Uint8Array(256);
  private len = 0;

  get length(): number {
    return this.len;
  }

  u8(value: number): this {
    this.reserve(1);
    this.buf[this.len++] = value & 0xff;
    return this;
  }

  varint(value: number): this {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`varint out of range: ${value}`);
    let rest = value;
    while (rest >= 0x80) {
      this.u8((rest % 0x80) | 0x80);
      rest = Math.floor(rest / 0x80);
    }
    return this.u8(rest);
  }

  raw(bytes: Uint8Array): this {
    this.reserve(bytes.length);
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
    return this;
  }

  blob(bytes: Uint8Array): this {
    return this.varint(bytes.length).raw(bytes);
  }

  string(text: string): this {
    return this.blob(new TextEncoder().encode(text));
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }

  private reserve(extra: number): void {
    if (this.len + extra <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.len + extra));
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }
}

class DecodeError extends Error {}

/** Strict reader: every length is checked against the bytes left and a caller-given cap. */
export class ByteReader {
  private pos = 0;
  constructor(private readonly bytes: Uint8Array) {}

  get remaining(): number {
    return this.bytes.length - this.pos;
  }

  u8(): number {
    if (this.pos >= this.bytes.length) throw new DecodeError('truncated');
    return this.bytes[this.pos++]!;
  }

  varint(max = Number.MAX_SAFE_INTEGER): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      const byte = this.u8();
      value += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) {
        if (value > max) throw new DecodeError(`value ${value} exceeds ${max}`);
        return value;
      }
      scale *= 0x80;
    }
    throw new DecodeError('varint too long');
  }

  blob(maxLength: number): Uint8Array {
    const length = this.varint(maxLength);
    if (length > this.remaining) throw new DecodeError('truncated');
    const out = this.bytes.subarray(this.pos, this.pos + length);
    this.pos += length;
    return out;
  }

  string(maxLength: number): string {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(this.blob(maxLength));
    } catch (e) {
      if (e instanceof DecodeError) throw e;
      throw new DecodeError('invalid utf-8');
    }
  }

  fail(message: string): never {
    throw new DecodeError(message);
  }
}

/** Runs a decoder over untrusted bytes; any malformation becomes an error value, trailing bytes included. */
export function decodeAll<T>(bytes: Uint8Array, read: (reader: ByteReader) => T): Result<T> {
  const reader = new ByteReader(bytes);
  try {
    const value = read(reader);
    if (reader.remaining !== 0) return err(`${reader.remaining} trailing bytes`);
    return ok(value);
  } catch (e) {
    if (e instanceof DecodeError) return err(e.message);
    return err(`undecodable: ${e instanceof Error ? e.message : String(e)}`);
  }
}
