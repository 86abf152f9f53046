/** Load from a second process: POSTs every token in a file to the broker's exchange, `concurrency` at a time. */
import { readFileSync } from 'node:fs';

const [brokerUrl, tokensFile, concurrencyText] = process.argv.slice(2);
const tokens = JSON.parse(readFileSync(tokensFile!, 'utf8')) as string[];
const concurrency = Number(concurrencyText ?? 16);
const latencies: number[] = [];
let errors = 0;
let next = 0;
const started = performance.now();
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (next < tokens.length) {
      const token = tokens[next++]!;
      const t0 = performance.now();
      const response = await fetch(`${brokerUrl}/v1/exchange`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token, project: 'marketing-site', target: 'preview' }),
      });
      await response.arrayBuffer();
      latencies.push(performance.now() - t0);
      if (response.status !== 200) errors += 1;
    }
  }),
);
const seconds = (performance.now() - started) / 1000;
latencies.sort((a, b) => a - b);
const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]!;
process.stdout.write(JSON.stringify({ count: tokens.length, errors, perSecond: tokens.length / seconds, p50: pct(50), p99: pct(99) }));
