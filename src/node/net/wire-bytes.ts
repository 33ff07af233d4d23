import type { Metrics, MultiaddrConnection, Stream } from '@libp2p/interface';
import { Counter, type Registry } from 'prom-client';
import { coalesceWrites } from './coalesced-writes.js';

/** What a connection's whole byte stream is counted under: pnet, Noise, yamux and multistream included. */
export const CONNECTION_TOTAL = 'connection';

export type Direction = 'in' | 'out';

/** The muxer and transport methods that move a stream's or connection's bytes (@libp2p/utils' message streams). */
interface ByteMover {
  onData?: (data: { byteLength: number }) => void;
  sendData?: (data: unknown) => { sentBytes: number; canSendMore: boolean };
}

/**
 * Bytes each libp2p stream protocol and each connection moves, counted where the muxer hands them over: a stream's
 * payload (after its protocol is negotiated) and a connection's whole TCP payload under `connection`. The
 * difference is what encryption, framing and negotiation cost; the kernel's counters add TCP/IP headers and ACKs
 * (bench/idle-traffic.sh compares them).
 *
 * It is libp2p's `metrics` component, which is how libp2p hands over every negotiated stream and every raw
 * connection; the other hooks of that interface (metrics libp2p's own modules register) answer with no-ops, so
 * the agent pays nothing for them.
 */
export class WireBytes implements Metrics {
  /** Bytes so far per protocol, one cell each, found once per stream rather than once per chunk. */
  readonly #bytes = new Map<string, Record<Direction, number>>();

  totals(): { protocol: string; direction: Direction; bytes: number }[] {
    return [...this.#bytes].flatMap(([protocol, cell]) =>
      (['in', 'out'] as const)
        .filter((direction) => cell[direction] > 0)
        .map((direction) => ({ protocol, direction, bytes: cell[direction] })),
    );
  }

  /** `mycel_protocol_bytes_total{protocol,direction}` in `registry`, read at scrape time. */
  register(registry: Registry): void {
    const counter: Counter<'protocol' | 'direction'> = new Counter({
      name: 'mycel_protocol_bytes_total',
      help: `Bytes by libp2p stream protocol and direction, stream payload only; protocol "${CONNECTION_TOTAL}" is every connection's whole TCP payload (encryption, muxing and negotiation included)`,
      labelNames: ['protocol', 'direction'] as const,
      registers: [registry],
      collect: () => {
        counter.reset();
        for (const { protocol, direction, bytes } of this.totals())
          counter.inc({ protocol, direction }, bytes);
      },
    });
  }

  /** Also where every raw connection's writes are coalesced (coalesced-writes.ts): libp2p's one hook on them. */
  trackMultiaddrConnection(maConn: MultiaddrConnection): void {
    coalesceWrites(maConn);
    this.#wrap(maConn as unknown as ByteMover, CONNECTION_TOTAL);
  }

  trackProtocolStream(stream: Stream): void {
    if (stream.protocol) this.#wrap(stream as unknown as ByteMover, stream.protocol);
  }

  /** Wraps the instance's own methods: a 'message' listener would change when a stream dispatches what it reads. */
  #wrap(target: ByteMover, protocol: string): void {
    const { onData, sendData } = target;
    let cell = this.#bytes.get(protocol);
    if (cell === undefined) {
      cell = { in: 0, out: 0 };
      this.#bytes.set(protocol, cell);
    }
    const counted = cell;
    if (typeof onData === 'function') {
      target.onData = (data) => {
        counted.in += data.byteLength;
        onData.call(target, data);
      };
    }
    if (typeof sendData === 'function') {
      target.sendData = (data) => {
        const result = sendData.call(target, data);
        counted.out += result.sentBytes;
        return result;
      };
    }
  }

  registerMetric = noopMetric as Metrics['registerMetric'];
  registerMetricGroup = noopMetric as Metrics['registerMetricGroup'];
  registerCounter = noopMetric as Metrics['registerCounter'];
  registerCounterGroup = noopMetric as Metrics['registerCounterGroup'];
  registerHistogram = noopMetric as Metrics['registerHistogram'];
  registerHistogramGroup = noopMetric as Metrics['registerHistogramGroup'];
  registerSummary = noopMetric as Metrics['registerSummary'];
  registerSummaryGroup = noopMetric as Metrics['registerSummaryGroup'];
  traceFunction = (<F>(_name: string, fn: F): F => fn) as Metrics['traceFunction'];
  createTrace(): undefined {
    return undefined;
  }
}

const noop = () => {};
/** Every metric method libp2p's modules call (update, increment, observe, timer, reset...), doing nothing. */
const NOOP_METRIC: unknown = new Proxy(
  {},
  { get: (_target, name) => (name === 'then' ? undefined : name === 'timer' ? () => noop : noop) },
);

function noopMetric(): unknown {
  return NOOP_METRIC;
}
