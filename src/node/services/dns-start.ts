import type { Logger } from '../../lib/logger.js';
import type { CatalogReader } from './catalog-reader.js';
import { DnsServer } from './dns-server.js';

/** Starts the DNS server on `listen` (meshd --dns-listen) over the agent's catalog; undefined when `off`. */
export async function startDns(
  catalog: CatalogReader,
  listen: string,
  log: Logger,
): Promise<DnsServer | undefined> {
  if (listen === 'off') return undefined;
  let server: DnsServer;
  try {
    server = await DnsServer.start({ listen, lookup: (name) => catalog.service(name), log });
  } catch (err) {
    throw new Error(`--dns-listen ${listen}: cannot listen: ${(err as Error).message}`);
  }
  const { host, port } = server.address;
  log.info({ dns: `${host.includes(':') ? `[${host}]` : host}:${port}` }, 'DNS listening');
  return server;
}
