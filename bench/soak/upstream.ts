import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { projectRoot } from '../../sim/netns/run-netns.js';
import type { Topology } from '../../sim/netns/topology.js';
import { sleep } from '../../sim/run-steps.js';
import {
  imageConfig,
  pushImage,
  startUpstreamRegistry,
  type UpstreamRegistry,
} from '../../test/support/registry.js';

/** The bridge's own address in the hub namespace: outside every agent's 10.77.<generation>.x. */
const UPSTREAM_IP = '10.77.255.1';
const UPSTREAM_PORT = 5000;
/** What the agents are told to reach over plain HTTP (MESH_REGISTRY_INSECURE). */
export const UPSTREAM_HOST = `${UPSTREAM_IP}:${UPSTREAM_PORT}`;
const HUB_RELAY = join(projectRoot(), 'dist', 'build', 'bench', 'soak', 'hub-relay.js');

export interface PushedLayer {
  ref: string;
  /** The manifest's digest: what an agent's image list shows once it holds the image. */
  digest: string;
  bytes: number;
}

/**
 * Debian's docker-registry (the test suite's counting upstream) made reachable from the namespaces at
 * 10.77.255.1:5000, with a gate: closed, every connection is cut at once, as a lost uplink refuses.
 */
export class UpstreamGate {
  readonly host = UPSTREAM_HOST;
  readonly #registry: UpstreamRegistry;
  readonly #server: Server;
  readonly #relay: ChildProcess;
  readonly #sockets = new Set<Socket>();
  #open = true;

  private constructor(registry: UpstreamRegistry, server: Server, relay: ChildProcess) {
    this.#registry = registry;
    this.#server = server;
    this.#relay = relay;
  }

  static async start(topo: Topology, root: string): Promise<UpstreamGate> {
    const registry = await startUpstreamRegistry();
    const socketPath = join(root, 'upstream.sock');
    rmSync(socketPath, { force: true });
    let gate: UpstreamGate | undefined;
    const server = createServer((client) => {
      if (gate) gate.#accept(client);
      else client.destroy();
    });
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    execFileSync('ip', ['-n', topo.hub, 'addr', 'add', `${UPSTREAM_IP}/16`, 'dev', 'br0']);
    const relay = spawn(
      'ip',
      [
        'netns',
        'exec',
        topo.hub,
        process.execPath,
        HUB_RELAY,
        UPSTREAM_IP,
        String(UPSTREAM_PORT),
        socketPath,
      ],
      { stdio: 'ignore' },
    );
    gate = new UpstreamGate(registry, server, relay);
    for (let tries = 0; tries < 50; tries++) {
      const listening = execFileSync('ip', ['netns', 'exec', topo.hub, 'ss', '-Hltn'], { encoding: 'utf8' });
      if (listening.includes(`${UPSTREAM_IP}:${UPSTREAM_PORT}`)) return gate;
      await sleep(100);
    }
    await gate.stop();
    throw new Error('the hub relay to the upstream registry did not start');
  }

  #accept(client: Socket): void {
    if (!this.#open) {
      client.destroy();
      return;
    }
    const upstream = connect(Number(this.#registry.host.split(':')[1]), '127.0.0.1');
    this.#sockets.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
      this.#sockets.delete(client);
      this.#sockets.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  }

  /** Closing also cuts the transfers under way: nothing more comes from upstream while closed. */
  set open(on: boolean) {
    this.#open = on;
    if (!on) for (const socket of this.#sockets) socket.destroy();
  }

  /** Bytes the upstream served since the start. */
  bytesServed(): number {
    return this.#registry.bytesServed();
  }

  /** A fresh image of one incompressible layer: no agent can hold any of it yet. */
  async pushLayer(round: number, mb: number): Promise<PushedLayer> {
    const layer = randomBytes(mb * 1024 * 1024);
    const tag = `r${round}`;
    const image = await pushImage(this.#registry.direct, 'soak/layer', tag, imageConfig([layer]), [layer]);
    return { ref: `${this.host}/soak/layer:${tag}`, digest: image.manifest.digest, bytes: image.size };
  }

  async stop(): Promise<void> {
    this.open = false;
    this.#relay.kill('SIGKILL');
    await new Promise((resolve) => this.#server.close(resolve));
    await this.#registry.stop();
  }
}
