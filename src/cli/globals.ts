import type { Command } from 'commander';
import { type ApiClient, apiClient } from './api-client.js';
import type { OutputFormat } from './output.js';

interface Globals {
  api: string;
  output: OutputFormat;
}

/** The options every meshctl command shares: where the agent is, and how to print. */
export function globals(cmd: Command): { client: ApiClient; format: OutputFormat } {
  const opts = cmd.optsWithGlobals<Globals>();
  return { client: apiClient(opts.api), format: opts.output };
}
