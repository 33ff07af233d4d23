import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2';
import { identify } from '@libp2p/identify';
import { preSharedKey } from '@libp2p/pnet';
import { tcp } from '@libp2p/tcp';
import { multiaddr } from '@multiformats/multiaddr';
import { createLibp2p } from 'libp2p';
import { parseJson } from '../lib/json-text.js';
import { FramedStream } from '../lib/p2p/framed-stream.js';
import {
  CONTROL_PROTOCOL,
  type ControlAnswer,
  type ControlRequest,
  decodeJoinToken,
  MAX_FRAME_BYTES,
  PROTOCOL_PREFIX,
  pnetKey,
} from '../node/api/client-keys.js';
import { type ApiClient, CliError } from './api-client.js';

/**
 * meshctl as a light peer: with a join token (the mesh key and bootstrap addresses) it dials a member over
 * libp2p and asks over the control protocol. It listens on nothing and joins no gossip; each request is one
 * short-lived connection, so the command exits as soon as it has its answer.
 */
export function remoteClient(token: string, timeoutMs = 15_000): ApiClient {
  const mesh = decodeJoinToken(token);
  if (!mesh.ok) throw new CliError(`--remote-token: ${mesh.error}`, 2);
  if (mesh.value.bootstrap.length === 0) {
    throw new CliError('--remote-token: the token names no bootstrap address to reach the mesh through', 2);
  }
  const { psk, bootstrap } = mesh.value;
  const call = async <T>(method: ControlRequest['method'], path: string, body?: unknown): Promise<T> => {
    const node = await createLibp2p({
      // A bootstrap address may be a relayed one (`.../p2p/<relay>/p2p-circuit/p2p/<device>`): a device behind
      // NAT is steered through the relay it holds a reservation on, the mesh key and Noise end to end.
      transports: [tcp(), circuitRelayTransport()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionProtector: preSharedKey({ psk: pnetKey(psk), timeout: timeoutMs }),
      connectionGater: { denyDialMultiaddr: () => false },
      // The relay transport needs identify; the agents speak it under the mesh's prefix.
      services: { identify: identify({ protocolPrefix: PROTOCOL_PREFIX }) },
    });
    const signal = AbortSignal.timeout(timeoutMs);
    const failures: string[] = [];
    try {
      for (const address of bootstrap) {
        try {
          const stream = await node.dialProtocol(multiaddr(address), CONTROL_PROTOCOL, {
            signal,
            runOnLimitedConnection: true,
          });
          const framed = new FramedStream(stream, {
            maxFrameBytes: MAX_FRAME_BYTES,
            idleTimeoutMs: timeoutMs,
            signal,
          });
          const request: ControlRequest = { method, path, body };
          await framed.write(new TextEncoder().encode(JSON.stringify(request)));
          const frame = await framed.read();
          if (!frame) throw new Error('the agent closed the stream without an answer');
          const answer = parseJson(new TextDecoder().decode(frame)) as ControlAnswer;
          await framed.close().catch(() => {});
          if ('error' in answer) throw new CliError(answer.error);
          return answer.json as T;
        } catch (err) {
          if (err instanceof CliError) throw err;
          failures.push(`${address}: ${(err as Error).message}`);
        }
      }
    } finally {
      await node.stop();
    }
    throw new CliError(
      `cannot reach the mesh through the token's bootstrap addresses (is the mesh key right?): ${failures.join('; ')}`,
    );
  };
  return {
    get: (path) => call('GET', path),
    post: (path, body) => call('POST', path, body),
    delete: (path) => call('DELETE', path),
    // A log without a follow ends with its history: it comes as one answer. A follow would hold a stream open.
    stream: async (path) => {
      if (/[?&]follow=true(&|$)/.test(path))
        throw new CliError(
          'alloc logs -f is not served to remote meshctl (it would hold a stream open over the mesh): ' +
            'drop -f (with --tail N), or run meshctl on a device of the mesh',
        );
      const text = await call<string>('GET', path);
      return (async function* () {
        yield new TextEncoder().encode(typeof text === 'string' ? text : '');
      })();
    },
  } as ApiClient;
}
