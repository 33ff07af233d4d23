import { MAX_JOB_FILE_BYTES } from '../../crdt/job-file-size.js';
import { RegularFileError, readRegularFile } from '../../lib/regular-file.js';
import { CliError } from '../api-client.js';

/** A job file is a regular file of at most MAX_JOB_FILE_BYTES. */
export async function readJobFile(file: string): Promise<string> {
  try {
    return await readRegularFile(file, {
      what: 'job file',
      hint: 'the path of a YAML or JSON file',
      maxBytes: MAX_JOB_FILE_BYTES,
    });
  } catch (err) {
    throw err instanceof RegularFileError ? new CliError(err.message) : err;
  }
}
