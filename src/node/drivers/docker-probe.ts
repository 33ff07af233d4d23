/**
 * Does a Docker Engine answer on this socket? Asked once at agent start for `--driver auto`, so it must be
 * quick whatever the socket does: missing, refusing, or accepting and then hanging.
 */
import { get } from 'node:http';

export function probeDocker(socketPath: string, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const request = get(
      { socketPath, path: '/_ping', signal: AbortSignal.timeout(timeoutMs) },
      (response) => {
        response.resume();
        resolve(response.statusCode === 200);
      },
    );
    request.on('error', () => resolve(false));
  });
}
