#!/usr/bin/env node
/** Entry point of the `keyhole-broker` bundle (dist/broker/index.js). */
import { readFileSync } from 'node:fs';
import { runCli } from './cli.js';

// stdout to a pipe is synchronous on Linux: one write per log line was a measurable cost per
// request. Lines are batched per event-loop turn and flushed synchronously at exit.
let pending: string[] = [];
const flush = () => {
  if (pending.length === 0) return;
  const text = pending.join('');
  pending = [];
  process.stdout.write(text);
};
process.on('exit', flush);

const code = await runCli(process.argv.slice(2), {
  env: process.env,
  stdout: (line) => {
    if (pending.push(`${line}\n`) === 1) setImmediate(flush);
  },
  stderr: (line) => process.stderr.write(`${line}\n`),
  readStdin: () => readFileSync(0, 'utf8'),
  exit: (status) => {
    flush();
    process.exit(status);
  },
});
// Everything is done (serve: drained and closed): end now rather than wait for handles a client
// library left open, such as a Redis client still reconnecting to a store that went away.
flush();
process.exit(code);
