// `npm run example-image`: the image the job files in examples/ and the tests run (`local/busybox:1`), made from
// the host's static busybox with `docker import`, every applet linked and an empty /tmp: no registry and no
// uplink needed. The demo and the tests make their images with the same function.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const BUSYBOX = '/bin/busybox';

/** Imports `ref` into the Docker Engine behind `docker` (a dockerode client); throws saying what is missing. */
export async function importBusyboxImage(docker, ref, busybox = BUSYBOX) {
  if (!existsSync(busybox))
    throw new Error(`there is no ${busybox} to build ${ref} from (apt-get install busybox-static)`);
  const dir = mkdtempSync(join(tmpdir(), 'mycel-image-'));
  try {
    const bin = join(dir, 'root', 'bin');
    mkdirSync(bin, { recursive: true });
    copyFileSync(busybox, join(bin, 'busybox'));
    const applets = execFileSync(busybox, ['--list'], { encoding: 'utf8' }).split('\n').filter(Boolean);
    for (const applet of applets) if (applet !== 'busybox') symlinkSync('busybox', join(bin, applet));
    mkdirSync(join(dir, 'root', 'tmp'));
    const tar = join(dir, 'image.tar');
    execFileSync('tar', ['-C', join(dir, 'root'), '-cf', tar, '.']);
    const colon = ref.lastIndexOf(':');
    const [repo, tag] =
      colon > ref.lastIndexOf('/') ? [ref.slice(0, colon), ref.slice(colon + 1)] : [ref, 'latest'];
    const stream = await docker.importImage(tar, { repo, tag });
    await new Promise((done, fail) =>
      docker.modem.followProgress(stream, (err) => (err ? fail(err) : done())),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const ref = process.argv[2] ?? 'local/busybox:1';
  const { default: Docker } = await import('dockerode');
  try {
    await importBusyboxImage(new Docker(), ref);
    console.log(`${ref}: imported from ${BUSYBOX}; the job files in examples/ can run now`);
  } catch (err) {
    console.error(`example-image: ${err.message}`);
    process.exit(1);
  }
}
