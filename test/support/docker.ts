/**
 * Docker for tests: the real local engine, which must answer (CI starts it; a test that needs it fails rather
 * than skips), and a tiny local image built from the host's static busybox, since no registry is reachable.
 */
import Docker from 'dockerode';
// @ts-expect-error: a plain ESM script without type declarations (the demo and `npm run example-image` use it too).
import { importBusyboxImage } from '../../scripts/busybox-image.mjs';

export const TEST_IMAGE = 'local/busybox:1';
export const DOCKER_SOCKET = process.env.DOCKER_SOCKET ?? '/var/run/docker.sock';

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
  await importBusyboxImage(docker, TEST_IMAGE);
  await docker.getImage(TEST_IMAGE).inspect();
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
