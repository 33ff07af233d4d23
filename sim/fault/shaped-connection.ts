import type { AbortOptions, MultiaddrConnection } from '@libp2p/interface';
import { AbstractMultiaddrConnection } from '@libp2p/utils';
import type { Uint8ArrayList } from 'uint8arraylist';
import type { FaultNetwork } from './fault-network.js';
import { LinkQueue } from './link-queue.js';

/** Above this many queued outbound bytes the muxer is told to wait for 'drain', as a full socket buffer does. */
const HIGH_WATER_BYTES = 256 * 1024;

/**
 * A TCP connection seen through the fault layer. Only the dialling side wraps its connection, and shapes both
 * directions there (its writes are `self → remote`, its reads `remote → self`), so every link is shaped exactly
 * once whichever side dialled. The real socket underneath still carries the bytes; the shaping is when.
 */
export class ShapedConnection extends AbstractMultiaddrConnection {
  readonly #inner: MultiaddrConnection;
  readonly #out: LinkQueue;
  readonly #in: LinkQueue;
  readonly #unsubscribe: () => void;
  #innerClosed = false;

  constructor(inner: MultiaddrConnection, network: FaultNetwork, self: string, remote: string) {
    super({
      remoteAddr: inner.remoteAddr,
      direction: inner.direction,
      log: inner.log,
      inactivityTimeout: inner.inactivityTimeout,
    });
    this.#inner = inner;
    const reset = (reason: string) => this.#reset(reason);
    this.#out = new LinkQueue({
      network,
      from: self,
      to: remote,
      deliver: (bytes) => {
        if (this.#inner.status === 'open') this.#inner.send(bytes);
        if (this.#out.queuedBytes < HIGH_WATER_BYTES / 2 && this.writableNeedsDrain)
          this.safeDispatchEvent('drain');
      },
      reset,
    });
    this.#in = new LinkQueue({
      network,
      from: remote,
      to: self,
      deliver: (bytes) => {
        if (this.status === 'open') this.onData(bytes);
      },
      reset,
    });
    this.#unsubscribe = network.onChange(() => {
      this.#out.linkChanged();
      this.#in.linkChanged();
    });
    inner.addEventListener('message', (evt) => {
      this.#in.push(evt.data instanceof Uint8Array ? evt.data : evt.data.subarray());
    });
    inner.addEventListener('close', (evt) => {
      this.#innerClosed = true;
      this.#unsubscribe();
      if (evt.error) {
        this.#out.close();
        this.#in.close();
        this.abort(evt.error);
        return;
      }
      // A remote close arrives after the bytes sent before it.
      void this.#in.idle().then(() => this.onTransportClosed());
    });
  }

  sendData(data: Uint8ArrayList): { sentBytes: number; canSendMore: boolean } {
    for (const buf of data) this.#out.push(buf);
    return { sentBytes: data.byteLength, canSendMore: this.#out.queuedBytes < HIGH_WATER_BYTES };
  }

  sendReset(err: Error): void {
    this.#out.close();
    this.#in.close();
    this.#unsubscribe();
    this.#inner.abort(err);
  }

  async sendClose(options?: AbortOptions): Promise<void> {
    if (this.#out.holding) {
      // Nothing will get through a down link before the close would: the socket goes, as TCP's would.
      this.sendReset(new Error('closed while the link is down'));
      return;
    }
    await this.#out.idle();
    this.#unsubscribe();
    if (!this.#innerClosed) await this.#inner.close(options);
  }

  sendPause(): void {
    this.#inner.pause();
  }

  sendResume(): void {
    this.#inner.resume();
  }

  #reset(reason: string): void {
    this.log('fault layer reset: %s', reason);
    // abort() resets the socket underneath through sendReset().
    this.abort(new Error(`fault layer: ${reason}`));
  }
}
