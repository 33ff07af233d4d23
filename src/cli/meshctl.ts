#!/usr/bin/env node
// `meshctl --version` alone, what inventories and upgrade scripts call on every device, answers before the
// command parser and the commands load (issue 22); every other call loads them.
import { VERSION } from '../version.js';

const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  process.stdout.write(`${VERSION}\n`);
} else {
  const { main } = await import('./meshctl-program.js');
  process.exitCode = await main(process.argv);
}
