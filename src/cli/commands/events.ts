import type { Command } from 'commander';
import { parseJson } from '../../lib/json-text.js';
import { LineSplitter } from '../../node/api/client.js';
import type { EventRecord, MeshEvent } from '../../node/api/types.js';
import { CliError } from '../api-client.js';
import { globals } from '../globals.js';
import { table as columns, printable } from '../output.js';

interface EventsOptions {
  follow?: boolean;
  job?: string;
  node?: string;
}

/** `meshctl events`: the mesh's changes as the agent saw them; with --follow, each as it happens. */
export function registerEventsCommand(program: Command): void {
  program
    .command('events')
    .description('changes of jobs, copies and devices as this agent saw them (--follow: as they happen)')
    .option('-f, --follow', 'keep printing changes as they happen (Ctrl-C to stop)')
    .option('--job <name>', 'only the changes of one job')
    .option('--node <name>', 'only the changes on one device (name or peer id)')
    .action(async (opts: EventsOptions, cmd: Command) => {
      const { client, format } = globals(cmd);
      if (format === 'yaml') throw new CliError('events prints lines, or JSON lines with -o json', 2);
      const query = new URLSearchParams();
      if (opts.job !== undefined) query.set('job', opts.job);
      if (opts.node !== undefined) query.set('node', opts.node);
      if (!opts.follow) {
        const { events } = await client.get<{ events: MeshEvent[] }>(`/v1/events?${query}`);
        process.stdout.write(format === 'json' ? `${JSON.stringify(events)}\n` : table(events));
        return;
      }
      // What the agent kept comes first, as `tail -f` starts with the last lines: nothing between is missed.
      query.set('follow', 'true');
      query.set('after', '0');
      const body = await client.stream(`/v1/events?${query}`);
      const splitter = new LineSplitter(64 * 1024);
      for await (const chunk of body) {
        for (const text of splitter.push(chunk)) {
          if (text === '') continue;
          const record = parseJson(text) as EventRecord;
          if ('error' in record) throw new CliError(record.error);
          const line = format === 'json' ? JSON.stringify(record) : eventLine(record);
          // A full pipe (meshctl events -f | less) slows the agent's stream instead of meshctl buffering.
          if (!process.stdout.write(`${line}\n`))
            await new Promise((resolve) => process.stdout.once('drain', resolve));
        }
      }
      throw new CliError('the agent ended the event stream; is it still running?');
    });
}

function table(events: MeshEvent[]): string {
  return columns(events, [
    { header: 'TIME', value: (e) => time(e.at) },
    { header: 'EVENT', value: (e) => e.kind },
    { header: 'SUBJECT', value: subject },
    { header: 'DEVICE', value: (e) => e.nodeName ?? '-' },
    { header: 'REASON', value: (e) => e.reason ?? '' },
  ]);
}

function eventLine(e: MeshEvent): string {
  const where = e.nodeName === undefined ? '' : ` on ${e.nodeName}`;
  return printable(`${time(e.at)} ${e.kind} ${subject(e)}${where}${e.reason ? `: ${e.reason}` : ''}`);
}

function subject(e: MeshEvent): string {
  if (e.allocId !== undefined) return e.allocId;
  if (e.job !== undefined) return e.version === undefined ? e.job : `${e.job} v${e.version}`;
  return e.nodeName ?? e.node ?? '-';
}

function time(at: number): string {
  return new Date(at).toISOString().replace('T', ' ').slice(0, 23);
}
