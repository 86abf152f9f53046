/**
 * Load from a second process: POSTs every token in a file to the broker's exchange, `concurrency`
 * at a time, on raw node:http keep-alive sockets (a load generator cheaper than fetch, as autocannon is).
 */
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';

const [brokerUrl, tokensFile, concurrencyText] = process.argv.slice(2);
const tokens = JSON.parse(readFileSync(tokensFile!, 'utf8')) as string[];
const concurrency = Number(concurrencyText ?? 8);
const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
const url = new URL('/v1/exchange', brokerUrl);

function exchange(token: string): Promise<number> {
  const body = JSON.stringify({ token, project: 'marketing-site', target: 'preview' });
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        res.once('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.once('error', reject);
    req.end(body);
  });
}

const latencies: number[] = [];
let errors = 0;
let next = 0;
const started = performance.now();
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (next < tokens.length) {
      const token = tokens[next++]!;
      const t0 = performance.now();
      if ((await exchange(token)) !== 200) errors += 1;
      latencies.push(performance.now() - t0);
    }
  }),
);
const seconds = (performance.now() - started) / 1000;
latencies.sort((a, b) => a - b);
const pct = (p: number) =>
  latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]!;
agent.destroy();
process.stdout.write(
  JSON.stringify({
    count: tokens.length,
    errors,
    perSecond: tokens.length / seconds,
    p50: pct(50),
    p99: pct(99),
  }),
);
