// The tarball a device installs (`npm run pack`): npm's own list of files (package.json `files`) with a package.json
// that has no scripts and no dependencies. The bundle carries every dependency, so `npm install -g` fetches nothing
// (148 MB and 46 s of packages before) and runs nothing: a plain `npm pack` ships the `prepare` hook, which npm 11
// flags as an install script to allow, and which would run patch-package, a build tool the device does not have.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

const at = process.argv.indexOf('--pack-destination');
const destination = resolve(at > 0 ? process.argv[at + 1] : '.');
const run = (args, cwd) =>
  execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });

const [listing] = JSON.parse(run(['pack', '--dry-run', '--json', '--ignore-scripts'], '.'));
const stage = mkdtempSync(join(tmpdir(), 'mycel-pack-'));
try {
  for (const { path } of listing.files) {
    if (path === 'package.json') continue;
    mkdirSync(dirname(join(stage, path)), { recursive: true });
    cpSync(path, join(stage, path));
  }
  const { scripts, devDependencies, dependencies, ...shipped } = JSON.parse(
    readFileSync('package.json', 'utf8'),
  );
  if (dependencies && Object.keys(dependencies).length > 0) {
    throw new Error('package.json has runtime dependencies; the bundle must carry them (devDependencies)');
  }
  writeFileSync(join(stage, 'package.json'), `${JSON.stringify(shipped, null, 2)}\n`);
  mkdirSync(destination, { recursive: true });
  const [packed] = JSON.parse(run(['pack', '--json', '--pack-destination', destination], stage));
  process.stdout.write(`${join(destination, packed.filename)}\n`);
} finally {
  rmSync(stage, { recursive: true, force: true });
}
