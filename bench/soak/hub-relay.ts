/**
 * Runs in the hub namespace: the upstream registry's address on the bridge, relayed to a unix socket the soak
 * serves from the root namespace (namespaces share the filesystem). So the agents reach a registry on the
 * root's loopback without any link between the root namespace and theirs.
 * `node hub-relay.js <listen ip> <port> <socket path>`
 */
import { connect, createServer } from 'node:net';

const [host, port, socketPath] = process.argv.slice(2);
if (!host || !port || !socketPath) {
  process.stderr.write('usage: hub-relay.js <listen ip> <port> <socket path>\n');
  process.exit(2);
}
createServer((client) => {
  const upstream = connect({ path: socketPath });
  client.pipe(upstream).pipe(client);
  const close = () => {
    client.destroy();
    upstream.destroy();
  };
  upstream.on('error', close).on('close', close);
  client.on('error', close).on('close', close);
}).listen(Number(port), host);
