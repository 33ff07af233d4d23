import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import type { LivenessService } from '../../liveness/liveness-service.js';
import {
  decodeExecFrame,
  type ExecErrorCode,
  encodeExecFrame,
  MAX_EXEC_FRAME,
} from '../../logs/alloc-exec-frames.js';
import type { AllocExecProtocol } from '../../logs/alloc-exec-protocol.js';
import { type FrameChannel, withFirstFrame } from '../../logs/frame-channel.js';
import type { UpgradeRoute } from '../control-api.js';
import { wsChannel } from '../ws-channel.js';

/** What the command socket reads: who runs a copy, whether that node is reachable, and the exec protocol. */
export interface AllocCommandSocketDeps {
  readonly peerId: string;
  peers: LivenessService['peers'];
  readonly allocExec: Pick<AllocExecProtocol, 'ownerOf' | 'open' | 'serve'>;
}

const REQUEST_TIMEOUT_MS = 10_000;

/**
 * `GET /v1/allocs/:id/command`, upgraded to a WebSocket: `meshctl alloc exec` and `alloc restart`. One binary
 * message per frame (alloc-exec-frames.ts); the first is the request, signed by meshctl in a closed mesh. This
 * agent only routes it: to its own exec service when it runs the copy, else over libp2p to the node that does,
 * relaying the frames both ways (each read waits for the write before it, so backpressure holds end to end).
 * Either side leaving ends the other: a meshctl that goes away resets the stream, and the owner kills the command.
 */
export function allocCommandUpgrades(deps: AllocCommandSocketDeps): UpgradeRoute[] {
  const server = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_EXEC_FRAME,
    perMessageDeflate: false,
  });
  return [
    {
      path: '/v1/allocs/:id/command',
      handle: (req: IncomingMessage, socket: Duplex, head: Buffer, params: Record<string, string>) =>
        server.handleUpgrade(req, socket, head, (ws: WebSocket) => void session(deps, ws, params.id ?? '')),
    },
  ];
}

async function session(deps: AllocCommandSocketDeps, ws: WebSocket, allocId: string): Promise<void> {
  const client = wsChannel(ws);
  const raw = await client.read({ signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) }).catch(() => undefined);
  if (!raw) return client.abort(new Error('no request in time'));
  const frame = decodeExecFrame(raw);
  if (!frame.ok) return refuse(client, 'bad-request', frame.error);
  if (frame.value.kind !== 'request' || frame.value.request.allocId !== allocId)
    return refuse(client, 'bad-request', `expected a request for alloc ${allocId} first`);
  const owner = deps.allocExec.ownerOf(allocId);
  if (!owner) return refuse(client, 'not-found', `no allocation "${allocId}"; meshctl alloc list shows them`);
  if (owner.peerId === deps.peerId) return deps.allocExec.serve(withFirstFrame(client, raw), 'local');
  const unreachable = (why: string) =>
    refuse(
      client,
      'unreachable',
      `cannot reach ${owner.name} (${owner.peerId}), the node that runs alloc ${allocId}: ${why}. ` +
        'Check that its agent runs and is connected (meshctl peers)',
    );
  const peer = deps.peers().find((p) => p.peerId === owner.peerId);
  if (peer?.liveness === 'lost' && !peer.connected) return unreachable('it is lost');
  let remote: FrameChannel;
  try {
    remote = await deps.allocExec.open(owner.peerId, raw, client.gone);
  } catch (err) {
    if (client.gone.aborted) return;
    return unreachable((err as Error).message);
  }
  await relay(client, remote);
}

/** The client's frames to the owner and back. The owner's end closes the client; the client's end, the owner. */
async function relay(client: FrameChannel, owner: FrameChannel): Promise<void> {
  const up = (async () => {
    try {
      while (true) {
        const frame = await client.read();
        if (!frame) break;
        await owner.write(frame);
      }
    } catch {}
    owner.abort(new Error('the client went away'));
  })();
  try {
    while (true) {
      const frame = await owner.read();
      if (!frame) break;
      await client.write(frame);
    }
    await client.close();
  } catch (err) {
    client.abort(err instanceof Error ? err : new Error(String(err)));
  }
  await up;
}

/** `channel` with its first frame, already read here, handed out again. */
async function refuse(client: FrameChannel, code: ExecErrorCode, message: string): Promise<void> {
  await client.write(encodeExecFrame({ kind: 'error', code, message })).catch(() => undefined);
  await client.close();
}
