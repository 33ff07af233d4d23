/**
 * Runs inside an agent's network namespace: relays a unix socket (reachable from the runner, since namespaces
 * share the filesystem) to the agent's control API on the namespace's own loopback. No bridge to the root
 * namespace is needed for the runner to talk to the agents.
 * `node api-relay.js <socket path> <api port>`
 */
import { rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';

const [socketPath, port] = process.argv.slice(2);
if (!socketPath || !port) {
  process.stderr.write('usage: api-relay.js <socket path> <api port>\n');
  process.exit(2);
}
rmSync(socketPath, { force: true });
createServer((client) => {
  const api = connect(Number(port), '127.0.0.1');
  api.setTimeout(30_000, () => api.destroy());
  client.pipe(api).pipe(client);
  const close = () => {
    client.destroy();
    api.destroy();
  };
  api.on('error', close);
  client.on('error', close);
}).listen(socketPath);
