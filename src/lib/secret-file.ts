import { open, readFile, rename, rm, stat } from 'node:fs/promises';

/** A secret file someone else on the device can read is a leaked secret: refuse it and say how to fix it. */
export async function readSecretFile(path: string, what: string): Promise<Buffer> {
  const bytes = await readSecretFileIfExists(path, what);
  if (bytes === undefined) throw new Error(`cannot read ${what} ${path} (ENOENT)`);
  return bytes;
}

/** As readSecretFile, but a file that does not exist is undefined: for secrets made on first start. */
export async function readSecretFileIfExists(path: string, what: string): Promise<Buffer | undefined> {
  let mode: number;
  try {
    mode = (await stat(path)).mode;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    throw new Error(`cannot read ${what} ${path} (${code ?? (err as Error).message})`);
  }
  if ((mode & 0o077) !== 0) {
    const octal = (mode & 0o777).toString(8).padStart(3, '0');
    throw new Error(
      `${what} ${path} is readable by other users (mode ${octal}); run \`chmod 600 ${path}\` and try again`,
    );
  }
  return readFile(path);
}

/** Creates a file only it does not exist yet, mode 0600, fsynced: secrets are never silently overwritten. */
export async function writeSecretFile(path: string, data: Uint8Array | string): Promise<void> {
  let file: Awaited<ReturnType<typeof open>>;
  try {
    file = await open(path, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new Error(`${path} already exists; move it away first if you mean to replace it`);
    }
    throw err;
  }
  try {
    await file.writeFile(data);
    await file.sync();
  } finally {
    await file.close();
  }
}

/** Writes a secret file whole or not at all (through a temporary file), replacing what was there. */
export async function replaceSecretFile(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${path}.tmp`;
  // A crash between write and rename leaves the temporary file; it holds nothing the next attempt needs.
  await rm(tmp, { force: true });
  await writeSecretFile(tmp, data);
  await rename(tmp, path);
}
