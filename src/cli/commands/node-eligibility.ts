import type { Command } from 'commander';
import type { NodeInfo, TrustInfo } from '../../node/api/types.js';
import { CliError } from '../api-client.js';
import { globals } from '../globals.js';
import { shortId } from '../output.js';

/**
 * `meshctl node drain|eligible`: whether a device takes work, as an operator-signed trust change, so every agent
 * places from the same answer and no device can make itself eligible again. A drained node takes no new copies
 * and the ones it runs are placed elsewhere.
 */
export function registerEligibilityCommands(node: Command): void {
  for (const [verb, kind, summary] of [
    ['drain', 'drain-node', 'give a device no new copies and move the ones it runs elsewhere'],
    ['eligible', 'eligible-node', 'let a drained device take copies again'],
  ] as const) {
    node
      .command(`${verb} <node>`)
      .description(`${summary} (closed mesh; signed with your operator key); by name or peer id`)
      .action(async (name: string, _opts, cmd: Command) => {
        const { client, operatorKey } = globals(cmd);
        const trust = await client.get<TrustInfo>('/v1/trust');
        if (!trust.closed)
          throw new CliError(
            `node ${verb} needs a closed mesh (operator keys): this mesh is open, so no one can sign the change`,
          );
        // Unlike revoke, the device must be known: draining a name nobody has is a typo, not a precaution.
        const peerId = (await client.get<NodeInfo>(`/v1/nodes/${encodeURIComponent(name)}`)).peerId;
        const drained = (trust.drained ?? []).includes(peerId);
        if (drained === (verb === 'drain')) {
          process.stdout.write(
            `node ${shortId(peerId)} is already ${verb === 'drain' ? 'drained' : 'eligible'}\n`,
          );
          return;
        }
        const { operatorSigner, submitTrustChange } = await import('../signing.js');
        await submitTrustChange(client, await operatorSigner(operatorKey), kind, peerId);
        process.stdout.write(`node ${shortId(peerId)} ${verb === 'drain' ? 'drained' : 'eligible again'}\n`);
      });
  }
}
