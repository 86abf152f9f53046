/**
 * Load from a second process: POSTs every token in a file to the broker's exchange, `concurrency`
 * at a time, each on its own keep-alive socket, writing the request in one piece and reading only
 * the status line and Content-Length of the answer (as autocannon does). node:http's client cost
 * about half of the broker's own CPU per exchange, on the two cores the broker runs on.
 */
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';

const [brokerUrl, tokensFile, concurrencyText] = process.argv.slice(2);
const tokens = JSON.parse(readFileSync(tokensFile!, 'utf8')) as string[];
const concurrency = Number(concurrencyText ?? 8);
const url = new URL('/v1/exchange', brokerUrl);
const HEAD_END = Buffer.from('\r\n\r\n');

const latencies: number[] = [];
let errors = 0;
let next = 0;

/** One connection: sends the next token as soon as the previous answer is complete. */
function connection(): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname);
    socket.setNoDelay(true);
    let pending: Buffer = Buffer.alloc(0);
    let sentAt = 0;
    let done = false;
    const fail = (error: Error) => {
      done = true;
      socket.destroy();
      reject(error);
    };
    const send = () => {
      if (next >= tokens.length) {
        done = true;
        socket.end();
        return resolve();
      }
      const body = JSON.stringify({ token: tokens[next++], project: 'marketing-site', target: 'preview' });
      sentAt = performance.now();
      socket.write(
        `POST ${url.pathname} HTTP/1.1\r\nhost: ${url.host}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    };
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      for (;;) {
        const headEnd = pending.indexOf(HEAD_END);
        if (headEnd === -1) return;
        const head = pending.toString('latin1', 0, headEnd);
        const length = /\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1];
        // The broker answers every exchange with a length; anything else would be misread here.
        if (length === undefined || /\r\nconnection:\s*close/i.test(head))
          return fail(new Error(`an answer this load generator cannot read: ${head}`));
        const end = headEnd + HEAD_END.length + Number(length);
        if (pending.length < end) return;
        if (head.slice(9, 12) !== '200') errors += 1;
        latencies.push(performance.now() - sentAt);
        pending = pending.subarray(end);
        send();
      }
    });
    socket.once('connect', send);
    socket.once('error', fail);
    socket.once('close', () => {
      if (!done) fail(new Error('the broker closed a connection mid-run'));
    });
  });
}

const started = performance.now();
await Promise.all(Array.from({ length: concurrency }, connection));
const seconds = (performance.now() - started) / 1000;
latencies.sort((a, b) => a - b);
const pct = (p: number) =>
  latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]!;
process.stdout.write(
  JSON.stringify({
    count: tokens.length,
    errors,
    perSecond: tokens.length / seconds,
    p50: pct(50),
    p99: pct(99),
  }),
);
