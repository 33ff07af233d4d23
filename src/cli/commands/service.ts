import type { Command } from 'commander';
import type { ServiceInfo, ServiceInstance } from '../../node/api/types.js';
import { globals } from '../globals.js';
import { recordTable, render, shortId, table } from '../output.js';

const endpoint = (i: ServiceInstance) =>
  i.address.includes(':') ? `[${i.address}]:${i.port}` : `${i.address}:${i.port}`;

/** `meshctl service list|status`: where the jobs' declared services can be reached, from this agent's replica. */
export function registerServiceCommands(program: Command): void {
  const service = program
    .command('service')
    .description('the services jobs declare and their healthy instances');

  service
    .command('list')
    .description('every service a running job declares, with how many healthy instances it has')
    .action(async (_opts, cmd: Command) => {
      const { client, format } = globals(cmd);
      const services = await client.get<ServiceInfo[]>('/v1/services');
      process.stdout.write(
        await render(
          services,
          [
            { header: 'NAME', value: (s) => s.name },
            { header: 'JOBS', value: (s) => s.jobs.join(',') },
            { header: 'INSTANCES', value: (s) => String(s.instances.length) },
            { header: 'ADDRESSES', value: (s) => s.instances.map(endpoint).join(',') || '-' },
          ],
          format,
        ),
      );
    });

  service
    .command('status <name>')
    .description("one service's instances: node, address, port, health, tags")
    .action(async (name: string, _opts, cmd: Command) => {
      const { client, format } = globals(cmd);
      const s = await client.get<ServiceInfo>(`/v1/services/${encodeURIComponent(name)}`);
      if (format !== 'table') {
        process.stdout.write(await render([], [], format, s));
        return;
      }
      const head = recordTable([
        ['Name', s.name],
        ['Jobs', s.jobs.join(', ')],
        ['DNS', `${s.name}.service.mycel`],
        ['Instances', String(s.instances.length)],
      ]);
      const rows = table(
        [...s.instances],
        [
          { header: 'ALLOC', value: (i) => i.allocId },
          { header: 'NODE', value: (i) => `${i.nodeName} (${shortId(i.node)})` },
          { header: 'ADDRESS', value: (i) => i.address },
          { header: 'PORT', value: (i) => `${i.port}/${i.protocol}` },
          { header: 'HEALTH', value: (i) => i.health },
          { header: 'TAGS', value: (i) => i.tags.join(',') || '-' },
        ],
      );
      process.stdout.write(s.instances.length === 0 ? `${head}\nno healthy instances\n` : `${head}\n${rows}`);
    });
}
