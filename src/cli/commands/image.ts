import type { Command } from 'commander';
import { parseLabels } from '../../node/api/client.js';
import type { NodeImages } from '../../node/api/types.js';
import { CliError } from '../api-client.js';
import { globals } from '../globals.js';
import { render, shortId } from '../output.js';

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** `meshctl image prepull|list`: container images in the agents' shared layer stores. */
export function registerImageCommands(program: Command): void {
  const image = program.command('image').description('container images shared between the agents');

  image
    .command('prepull <ref>')
    .description('fetch an image into the layer store of every node matching the labels (all nodes without)')
    .option('--label <key=value>', 'only nodes with this label, repeatable', collect)
    .action(async (ref: string, opts: { label?: string[] }, cmd: Command) => {
      const { client, format } = globals(cmd);
      let labels: Record<string, string>;
      try {
        labels = parseLabels(opts.label ?? [], '--label');
      } catch (err) {
        throw new CliError((err as Error).message, 2);
      }
      const result = await client.post<{ ref: string }>('/v1/images/prepull', { ref, labels });
      process.stdout.write(
        format === 'table' ? `pre-pull of ${result.ref} requested\n` : await render([], [], format, result),
      );
    });

  image
    .command('list')
    .description('the images each linked node holds')
    .action(async (_opts, cmd: Command) => {
      const { client, format } = globals(cmd);
      const nodes = await client.get<NodeImages[]>('/v1/images');
      const rows = nodes.flatMap((n) =>
        n.images === null
          ? [{ node: n.name, peerId: n.peerId, ref: '(no answer)', digest: '', complete: false }]
          : n.images.map((i) => ({ node: n.name, peerId: n.peerId, ...i })),
      );
      process.stdout.write(
        await render(
          rows,
          [
            { header: 'NODE', value: (r) => r.node },
            { header: 'PEER ID', value: (r) => shortId(r.peerId) },
            { header: 'IMAGE', value: (r) => r.ref },
            { header: 'DIGEST', value: (r) => r.digest.slice(0, 19) },
            { header: 'COMPLETE', value: (r) => (r.digest ? String(r.complete) : '-') },
          ],
          format,
          nodes,
        ),
      );
    });
}
