/**
 * Docker for tests: the real local engine, which must answer (CI starts it; a test that needs it fails rather
 * than skips), and a tiny local image built from the host's static busybox, since no registry is reachable.
 */
import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';

export const TEST_IMAGE = 'local/busybox:1';
export const DOCKER_SOCKET = process.env.DOCKER_SOCKET ?? '/var/run/docker.sock';
const BUSYBOX = '/bin/busybox';
const APPLETS = ['sh', 'sleep', 'httpd', 'echo', 'cat', 'nc', 'wget', 'env', 'printf', 'true'];

export async function connectDocker(): Promise<Docker> {
  const docker = new Docker({ socketPath: DOCKER_SOCKET });
  try {
    await Promise.race([
      docker.ping(),
      new Promise((_, reject) => setTimeout(() => reject(new Error('ping timed out')), 3_000).unref()),
    ]);
  } catch (err) {
    throw new Error(
      `No Docker Engine answers on ${DOCKER_SOCKET} (${(err as Error).message}): start it with ` +
        '`setsid dockerd >/tmp/dockerd.log 2>&1 &` (see MACHINE.md) or set DOCKER_SOCKET',
    );
  }
  return docker;
}

function isMissing(err: unknown): boolean {
  return (err as { statusCode?: number }).statusCode === 404;
}

export async function ensureTestImage(docker: Docker): Promise<void> {
  try {
    await docker.getImage(TEST_IMAGE).inspect();
    return;
  } catch (err) {
    if (!isMissing(err)) throw err;
  }
  const work = await mkdtemp(join(tmpdir(), 'mycel-image-'));
  try {
    const bin = join(work, 'root', 'bin');
    await mkdir(bin, { recursive: true });
    await copyFile(BUSYBOX, join(bin, 'busybox'));
    for (const applet of APPLETS) await symlink('busybox', join(bin, applet));
    await mkdir(join(work, 'root', 'tmp'));
    const tar = join(work, 'image.tar');
    execFileSync('tar', ['-C', join(work, 'root'), '-cf', tar, '.']);
    const [repo, tag] = TEST_IMAGE.split(':');
    const stream = await docker.importImage(tar, { repo, tag });
    await new Promise<void>((resolve, reject) => {
      docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve()));
    });
    await docker.getImage(TEST_IMAGE).inspect();
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** The engine with the test image in it: what every test that runs containers starts from. */
export async function dockerWithTestImage(): Promise<Docker> {
  const docker = await connectDocker();
  await ensureTestImage(docker);
  return docker;
}

/** Removes every container carrying `label` (`key=value`); for cleanup even after a failed test. */
export async function removeByLabel(docker: Docker, label: string): Promise<void> {
  const found = await docker.listContainers({ all: true, filters: { label: [label] } });
  await Promise.all(
    found.map((c) =>
      docker
        .getContainer(c.Id)
        .remove({ force: true })
        .catch((err: unknown) => {
          if (!isMissing(err)) throw err;
        }),
    ),
  );
}
