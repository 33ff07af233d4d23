import type { Command } from 'commander';
import type { NodeInfo } from '../../node/api/types.js';
import { globals } from '../globals.js';
import { render, renderRecord, shortId } from '../output.js';
import { watchable, withWatch } from '../watch.js';
import { registerEligibilityCommands } from './node-eligibility.js';

const labels = (n: NodeInfo) =>
  Object.entries(n.labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',') || '-';
const cpu = (millicores: number) => `${(millicores / 1000).toFixed(millicores % 1000 === 0 ? 0 : 1)} cores`;
const memory = (mb: number) => (mb >= 1024 ? `${(mb / 1024).toFixed(1)} GB` : `${mb} MB`);

/** `meshctl node list|status`: the nodes the replicated state knows, with this agent's liveness view. */
export function registerNodeCommands(program: Command): void {
  const node = program.command('node').description('the devices of the mesh');

  withWatch(
    node.command('list').description('every node the mesh knows: identity, labels, liveness, capacity'),
  ).action(
    watchable(async (_opts, cmd: Command) => {
      const { client, format } = globals(cmd);
      const nodes = (await client.get<NodeInfo[]>('/v1/nodes')).sort((a, b) => a.name.localeCompare(b.name));
      process.stdout.write(
        await render(
          nodes,
          [
            { header: 'NAME', value: (n) => (n.self ? `${n.name} (self)` : n.name) },
            { header: 'PEER ID', value: (n) => shortId(n.peerId) },
            { header: 'LIVENESS', value: (n) => n.liveness },
            // Older agents do not say: absent means eligible.
            { header: 'ELIGIBILITY', value: (n) => (n.eligible === false ? 'drained' : 'eligible') },
            { header: 'CPU', value: (n) => cpu(n.cpu) },
            { header: 'MEMORY', value: (n) => memory(n.memory) },
            { header: 'DRIVERS', value: (n) => n.drivers.join(',') || '-' },
            { header: 'LABELS', value: labels },
          ],
          format,
        ),
      );
    }),
  );

  node
    .command('status <name>')
    .description('one node, by name or peer id')
    .action(async (name: string, _opts, cmd: Command) => {
      const { client, format } = globals(cmd);
      const n = await client.get<NodeInfo>(`/v1/nodes/${encodeURIComponent(name)}`);
      process.stdout.write(
        await renderRecord(
          [
            ['Name', n.name],
            ['Peer ID', n.peerId],
            ['Liveness', n.self ? `${n.liveness} (this agent)` : n.liveness],
            ['Eligibility', n.eligible === false ? 'drained' : 'eligible'],
            ['Labels', labels(n)],
            ['Platform', `${n.os}/${n.arch}`],
            ['CPU', `${cpu(n.cpu)} (${cpu(n.reserved.cpu)} reserved)`],
            ['Memory', `${memory(n.memory)} (${memory(n.reserved.memory)} reserved)`],
            ['Drivers', n.drivers.join(', ') || '-'],
            ['Devices', n.devices?.join(', ') || '-'],
            ['Host paths', n.hostPaths?.join(', ') || '-'],
            ['Agent version', n.agentVersion],
            ['Addresses', n.addresses.join(', ') || '-'],
          ],
          format,
          n,
        ),
      );
    });

  node
    .command('revoke <peer>')
    .description(
      'cut a device off everywhere (closed mesh; signed with your operator key); by name or peer id',
    )
    .action(async (peer: string, _opts, cmd: Command) => {
      const { client, operatorKey } = globals(cmd);
      const { isKeyId } = await import('../../crdt/signature.js');
      const { operatorSigner, submitTrustChange } = await import('../signing.js');
      const key = await operatorSigner(operatorKey);
      // A peer id is taken as given (the device may never have written a record); a name is looked up.
      const peerId = isKeyId(peer)
        ? peer
        : (await client.get<NodeInfo>(`/v1/nodes/${encodeURIComponent(peer)}`)).peerId;
      const outcome = await submitTrustChange(client, key, 'revoke-node', peerId);
      process.stdout.write(
        outcome === 'added'
          ? `node ${shortId(peerId)} revoked\n`
          : `node ${shortId(peerId)} was already revoked\n`,
      );
    });

  registerEligibilityCommands(node);
}
