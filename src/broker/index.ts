#!/usr/bin/env node
/** Entry point of the `keyhole-broker` bundle (dist/broker/index.js). */
import { readFileSync } from 'node:fs';
import { runCli } from './cli.js';

const code = await runCli(process.argv.slice(2), {
  env: process.env,
  stdout: (line) => process.stdout.write(`${line}\n`),
  stderr: (line) => process.stderr.write(`${line}\n`),
  readStdin: () => readFileSync(0, 'utf8'),
});
process.exitCode = code;
