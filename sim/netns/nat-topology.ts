import { execFileSync } from 'node:child_process';
import { ip, kill, pids } from './topology.js';

/**
 * Two sites behind NAT and one reachable member, in network namespaces of their own (nothing touches the root
 * namespace). `wan` holds a bridge, the "internet"; the relay sits on it at 10.99.0.1. Each site k is a router
 * namespace (`gw<k>`: 10.99.<k>.1<k> on the WAN's /16, 10.<k>.0.1 on the site's LAN) and a device namespace (10.<k>.0.2)
 * behind it. The routers masquerade what leaves and forward back only what belongs to a connection the site
 * opened: no inbound forwarding, as a home or mobile NAT. Nothing routes to a site's LAN from outside it, so a
 * dial to a device's private address fails at once instead of hanging.
 */
export class NatTopology {
  readonly prefix: string;

  constructor(prefix: string) {
    if (process.getuid?.() !== 0)
      throw new Error('the NAT sites run needs root (ip netns, veth, iptables): run it as root, e.g. in CI');
    this.prefix = prefix;
  }

  ns(name: 'wan' | 'relay' | 'gw1' | 'gw2' | 'site1' | 'site2'): string {
    return `${this.prefix}${name}`;
  }

  static readonly RELAY_IP = '10.99.0.1';

  static deviceIp(site: 1 | 2): string {
    return `10.${site}.0.2`;
  }

  /** Each router on a /24 of its own within the WAN's /16, as NAT boxes on different ISPs' networks. */
  static routerWanIp(site: 1 | 2): string {
    return `10.99.${site}.1${site}`;
  }

  create(): void {
    const wan = this.ns('wan');
    ip('netns', 'add', wan);
    ip('-n', wan, 'link', 'set', 'lo', 'up');
    ip('-n', wan, 'link', 'add', 'br0', 'type', 'bridge');
    ip('-n', wan, 'link', 'set', 'br0', 'up');
    this.#attach(this.ns('relay'), 'eth0', `${NatTopology.RELAY_IP}/16`, 'r');
    for (const site of [1, 2] as const) {
      const gw = this.ns(site === 1 ? 'gw1' : 'gw2');
      const device = this.ns(site === 1 ? 'site1' : 'site2');
      this.#attach(gw, 'wan0', `${NatTopology.routerWanIp(site)}/16`, `g${site}`);
      ip('netns', 'add', device);
      ip('-n', device, 'link', 'set', 'lo', 'up');
      ip('-n', device, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'lan0', 'netns', gw);
      ip('-n', gw, 'addr', 'add', `10.${site}.0.1/24`, 'dev', 'lan0');
      ip('-n', gw, 'link', 'set', 'lan0', 'up');
      ip('-n', device, 'addr', 'add', `${NatTopology.deviceIp(site)}/24`, 'dev', 'eth0');
      ip('-n', device, 'link', 'set', 'eth0', 'up');
      ip('-n', device, 'route', 'add', 'default', 'via', `10.${site}.0.1`);
      // The routers reach the WAN subnet and their own LAN, nothing else: another site's LAN is unroutable.
      run(gw, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
      run(gw, 'iptables', '-w', '-t', 'nat', '-A', 'POSTROUTING', '-o', 'wan0', '-j', 'MASQUERADE');
      run(gw, 'iptables', '-w', '-P', 'FORWARD', 'DROP');
      run(gw, 'iptables', '-w', '-A', 'FORWARD', '-i', 'lan0', '-o', 'wan0', '-j', 'ACCEPT');
      run(
        gw,
        'iptables',
        '-w',
        '-A',
        'FORWARD',
        '-i',
        'wan0',
        '-o',
        'lan0',
        '-m',
        'conntrack',
        '--ctstate',
        'ESTABLISHED,RELATED',
        '-j',
        'ACCEPT',
      );
      // Nothing addressed to the router itself from the WAN either (a NAT box answers no dial).
      run(gw, 'iptables', '-w', '-A', 'INPUT', '-i', 'wan0', '-p', 'tcp', '--syn', '-j', 'DROP');
    }
  }

  /** A namespace with one interface on the WAN bridge. */
  #attach(ns: string, dev: string, cidr: string, bridgePort: string): void {
    const wan = this.ns('wan');
    ip('netns', 'add', ns);
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    ip('-n', ns, 'link', 'add', dev, 'type', 'veth', 'peer', 'name', bridgePort, 'netns', wan);
    ip('-n', wan, 'link', 'set', bridgePort, 'master', 'br0');
    ip('-n', wan, 'link', 'set', bridgePort, 'up');
    ip('-n', ns, 'addr', 'add', cidr, 'dev', dev);
    ip('-n', ns, 'link', 'set', dev, 'up');
  }

  destroy(): void {
    for (const name of ['site1', 'site2', 'gw1', 'gw2', 'relay', 'wan'] as const) {
      const ns = this.ns(name);
      for (const pid of pids(ns)) kill(pid);
      try {
        ip('netns', 'del', ns);
      } catch {
        // Already gone (a failed create).
      }
    }
  }

  /** Bytes through the relay's WAN interface, both ways. */
  relayBytes(): number {
    const dev = execFileSync('ip', ['netns', 'exec', this.ns('relay'), 'cat', '/proc/net/dev'], {
      encoding: 'utf8',
    });
    const line = dev.split('\n').find((l) => l.trim().startsWith('eth0:'));
    const f = (line?.split(':')[1] ?? '').trim().split(/\s+/).map(Number);
    return (f[0] ?? 0) + (f[8] ?? 0);
  }

  /** Whether `from` can open a TCP connection to `ip:port` directly (the NAT check the test starts with). */
  canConnect(from: 'relay' | 'site1' | 'site2', ip: string, port: number): boolean {
    try {
      run(
        this.ns(from),
        process.execPath,
        '-e',
        `const s=require('net').connect(${port},'${ip}');s.setTimeout(2000,()=>process.exit(1));` +
          "s.on('connect',()=>process.exit(0));s.on('error',()=>process.exit(1));",
      );
      return true;
    } catch {
      return false;
    }
  }
}

function run(ns: string, ...args: string[]): void {
  execFileSync('ip', ['netns', 'exec', ns, ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    timeout: 10_000,
  });
}
