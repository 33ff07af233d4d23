import { type Command, Option } from 'commander';
import { parseDuration } from '../../lib/duration.js';
import { parseJson } from '../../lib/json-text.js';
import { LineSplitter } from '../../node/api/client.js';
import type {
  AllocDetail,
  AllocListRow,
  AllocRow,
  AllocStatus,
  LogLine,
  LogRecord,
} from '../../node/api/types.js';
import { CliError } from '../api-client.js';
import { globals } from '../globals.js';
import { ago, render, renderRecord, shortId } from '../output.js';
import { watchable, withWatch } from '../watch.js';
import { registerAllocVerbs } from './alloc-verbs.js';

/** `complete (exit 0)`: the reported state, with how the workload ended once it has. */
function outcome(state: AllocStatus['state'] | null, exitCode: number | undefined): string {
  if (state === null) return 'not reported';
  return exitCode === undefined ? state : `${state} (exit ${exitCode})`;
}

/**
 * `meshctl alloc list [--job NAME]`: the placement every agent computes, as this agent sees it, with each
 * copy's reported state; copies that ended (a batch job done) stay listed until their node forgets them.
 */
export function registerAllocCommands(program: Command): void {
  const alloc = program.command('alloc').description('allocations: the copies of jobs and where they run');
  withWatch(
    alloc
      .command('list')
      .description(
        'every allocation the placement wants running, unreachable or stopped, and those that ended',
      )
      .option('--job <name>', 'only the allocations of this job'),
  ).action(
    watchable(async (opts: { job?: string }, cmd: Command) => {
      const { client, format: output } = globals(cmd);
      const query = opts.job === undefined ? '' : `?job=${encodeURIComponent(opts.job)}`;
      const rows = await client.get<AllocListRow[]>(`/v1/allocs${query}`);
      process.stdout.write(
        await render(
          rows,
          [
            { header: 'ALLOC ID', value: (r) => r.allocId },
            { header: 'JOB', value: (r) => r.job },
            { header: 'VERSION', value: (r) => String(r.jobVersion) },
            { header: 'NODE', value: (r) => (r.nodeName === r.node ? shortId(r.node) : r.nodeName) },
            {
              header: 'DESIRED',
              value: desiredText,
            },
            { header: 'STATUS', value: (r) => outcome(r.state, r.exitCode) },
          ],
          output,
        ),
      );
    }),
  );

  alloc
    .command('status <id>')
    .description('one allocation: its state and health, where it runs, and its recent events with reasons')
    .action(async (id: string, _opts, cmd: Command) => {
      const { client, format: output } = globals(cmd);
      const detail = await client.get<AllocDetail>(`/v1/allocs/${encodeURIComponent(id)}`);
      if (output !== 'table') {
        process.stdout.write(await render([], [], output, detail));
        return;
      }
      const now = Date.now();
      const s = detail.status;
      const desired = detail.desired ? desiredText(detail.desired) : '-';
      const head = await renderRecord(
        [
          ['Alloc ID', detail.allocId],
          ['Job', s ? `${s.job} v${s.jobVersion}` : (detail.desired?.job ?? '-')],
          ['Node', detail.owner ? `${detail.owner.name} (${shortId(detail.owner.peerId)})` : '-'],
          ['State', s ? outcome(s.state, s.exitCode) : 'not reported yet'],
          ['Health', s?.health ?? '-'],
          [
            'Verdict',
            s?.verdict === undefined
              ? 'not judged yet'
              : `${s.verdict.healthy ? 'healthy' : 'unhealthy'} (${ago(s.verdict.at, now)}${
                  s.verdict.reason ? `: ${s.verdict.reason}` : ''
                })`,
          ],
          ['Started', s?.startedAt ? ago(s.startedAt, now) : '-'],
          ['Finished', s?.finishedAt ? ago(s.finishedAt, now) : '-'],
          ['Restarts', s ? String(s.restarts) : '-'],
          ['Last error', s?.lastError ?? '-'],
          ...(s?.ports === undefined ? [] : [['Ports', portsText(s.ports)] as [string, string]]),
          ['Desired', desired],
        ],
        'table',
        detail,
      );
      const events =
        detail.events === null
          ? `${detail.eventsError ?? 'Events are kept by the node that runs it, and no node runs it'}\n`
          : detail.events.length === 0
            ? 'No events yet.\n'
            : await render(
                [...detail.events].reverse(),
                [
                  { header: 'WHEN', value: (e) => ago(e.at, now) },
                  { header: 'EVENT', value: (e) => e.kind },
                  { header: 'REASON', value: (e) => e.reason ?? '' },
                ],
                'table',
              );
      process.stdout.write(`${head}\nRecent events\n${events}`);
    });

  alloc
    .command('logs <id>')
    .description('the output of an allocation, read from the node that runs it, whichever agent you ask')
    .option('-f, --follow', 'keep printing new lines until the workload exits (Ctrl-C to stop)')
    .option('--tail <n>', 'only the last n lines of history (exec: of each stream)', wholeNumber)
    .option(
      '--since <duration>',
      'only lines of the last duration, e.g. 10m (docker only: exec has no times)',
    )
    .addOption(new Option('--stdout', 'only standard output').conflicts('stderr'))
    .addOption(new Option('--stderr', 'only standard error'))
    .action(async (id: string, opts: LogsOptions, cmd: Command) => {
      const { client, format } = globals(cmd);
      if (format === 'yaml') throw new CliError('alloc logs prints lines, or JSON lines with -o json', 2);
      const query = new URLSearchParams({ follow: String(opts.follow === true) });
      if (opts.tail !== undefined) query.set('tail', String(opts.tail));
      if (opts.since !== undefined) {
        const since = parseDuration(opts.since);
        if (!since.ok) throw new CliError(`--since: ${since.error}`, 2);
        query.set('since', opts.since);
      }
      if (opts.stdout) query.set('stream', 'stdout');
      if (opts.stderr) query.set('stream', 'stderr');
      const body = await client.stream(`/v1/allocs/${encodeURIComponent(id)}/logs?${query}`);
      // Waits for a full pipe (meshctl alloc logs -f | less), so the agent's stream slows down instead of
      // meshctl buffering without bound.
      const print = async (record: LogLine) => {
        const out = format === 'json' || record.stream === 'stdout' ? process.stdout : process.stderr;
        const text = format === 'json' ? JSON.stringify(record) : record.line;
        if (!out.write(`${text}\n`)) await new Promise((resolve) => out.once('drain', resolve));
      };
      // Records are one JSON text a line; a line of log is at most 16 KiB, so 1 MiB never cuts a record.
      const splitter = new LineSplitter(1024 * 1024);
      for await (const chunk of body) {
        for (const text of splitter.push(chunk)) {
          // Blank lines keep a quiet follow's connection alive.
          if (text === '') continue;
          const record = parseJson(text) as LogRecord;
          if ('error' in record) throw new CliError(record.error);
          if ('end' in record) return;
          await print(record);
        }
      }
      throw new CliError(`the agent ended the log of ${id} early; is it still running?`);
    });

  registerAllocVerbs(alloc);
}

interface LogsOptions {
  follow?: boolean;
  tail?: number;
  since?: string;
  stdout?: boolean;
  stderr?: boolean;
}

function wholeNumber(value: string): number {
  if (!/^\d+$/.test(value)) throw new CliError(`--tail takes a whole number of lines, not "${value}"`, 2);
  return Number(value);
}

/** `run`, `unknown (not replaced: why)`, or `stop (reason)`. */
function desiredText(r: AllocRow | AllocListRow): string {
  if ('reason' in r) return `stop (${r.reason})`;
  if (r.desired === 'finished') return '-';
  return r.notReplaced === undefined ? r.desired : `${r.desired} (not replaced: ${r.notReplaced})`;
}

/** A copy's dynamic ports as its node recorded them: `http=20417 admin=20418`. */
function portsText(ports: Readonly<Record<string, number>>): string {
  return Object.entries(ports)
    .map(([name, port]) => `${name}=${port}`)
    .join(' ');
}
