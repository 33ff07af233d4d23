import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { bundle, meshctl } from '../support/processes.js';

const run = promisify(execFile);
let dir = '';
let script = '';
beforeAll(async () => {
  await bundle();
  dir = await mkdtemp(join(tmpdir(), 'mycel-completion-'));
  script = join(dir, 'meshctl.bash');
  const generated = await meshctl(['completion', 'bash']);
  expect(generated.code).toBe(0);
  await writeFile(script, generated.stdout);
}, 120_000);
afterAll(() => rm(dir, { recursive: true, force: true }));

/** What bash offers after typing `line` (the last word is the one being completed), from the real script. */
async function complete(line: string): Promise<string[]> {
  const words = line.split(' ');
  const program = [
    `source ${JSON.stringify(script)}`,
    `COMP_WORDS=(${words.map((w) => JSON.stringify(w)).join(' ')})`,
    `COMP_CWORD=${words.length - 1}`,
    `cd ${JSON.stringify(dir)}`,
    '_meshctl_complete',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: bash, not JavaScript, expands it
    'printf "%s\\n" "${COMPREPLY[@]}"',
  ].join('\n');
  const { stdout } = await run('bash', ['-c', program]);
  return stdout.split('\n').filter(Boolean);
}

test('bash completes commands level by level, options per command, and file names for the rest', async () => {
  expect(await complete('meshctl ')).toEqual(
    expect.arrayContaining(['job', 'node', 'alloc', 'events', 'status']),
  );
  expect(await complete('meshctl jo')).toEqual(['job']);
  expect(await complete('meshctl job ')).toEqual(
    expect.arrayContaining(['run', 'status', 'scale', 'revert']),
  );
  expect(await complete('meshctl -o json job st')).toEqual(['status', 'stop']);
  expect(await complete('meshctl events --f')).toEqual(['--follow']);
  // Global options are offered under every command.
  expect(await complete('meshctl job status --ap')).toEqual(['--api']);
  // `job run FILE`: no command words left, so file names.
  await writeFile(join(dir, 'web.yaml'), 'name: web\n');
  expect(await complete('meshctl job run we')).toEqual(['web.yaml']);
  // The word after an option that takes a value is that value: its choices, or a file name, never a command.
  expect(await complete('meshctl -o ')).toEqual(['table', 'json', 'yaml']);
  expect(await complete('meshctl job list --output y')).toEqual(['yaml']);
  expect(await complete('meshctl --token-file we')).toEqual(['web.yaml']);
  expect(await complete('meshctl --data-dir job ')).toEqual(
    expect.arrayContaining(['status', 'job', 'node']),
  );
  expect(await complete('meshctl completion ')).toEqual(expect.arrayContaining(['bash', 'zsh', 'fish']));
});

test('zsh and fish scripts come from the same command tree; an unknown shell is a usage error', async () => {
  const zsh = await meshctl(['completion', 'zsh']);
  expect(zsh.stdout).toMatch(/^autoload -U \+X bashcompinit && bashcompinit\n/);
  expect(zsh.stdout).toContain('complete -o filenames -F _meshctl_complete meshctl');
  const fish = (await meshctl(['completion', 'fish'])).stdout;
  expect(fish).toContain("complete -c meshctl -f -n '__fish_seen_subcommand_from job' -a 'run plan");
  expect(fish).toContain("complete -c meshctl -n '__fish_seen_subcommand_from events' -l follow");
  expect(fish).toContain("complete -c meshctl -s o -x -a 'table json yaml'");
  expect(fish).toContain('complete -c meshctl -l token-file -r');
  expect(fish).toContain(
    "complete -c meshctl -f -n '__fish_seen_subcommand_from completion' -a 'bash zsh fish'",
  );
  const bad = await meshctl(['completion', 'tcsh']);
  expect(bad.code).toBe(2);
  expect(bad.stderr).toMatch(/Allowed choices are bash, zsh, fish/);
});
