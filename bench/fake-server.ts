/** The strict Vercel fake as its own process for benchmarks; stdin commands: `reset`, `stats`. */
import { createInterface } from 'node:readline';
import { startVercelFake } from '../src/local/vercel/index.js';

const fake = await startVercelFake({
  tokens: [process.env.FAKE_TOKEN ?? 'bench_upstream_token'],
  queueMs: Number(process.env.FAKE_QUEUE_MS ?? 20),
  buildMs: Number(process.env.FAKE_BUILD_MS ?? 100),
  keepBytes: 0,
});
process.stdout.write(`${JSON.stringify({ url: fake.url })}\n`);
for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'reset') {
    fake.blobs.clear();
    fake.deployments.clear();
    fake.clearRecord();
  }
  const uploads = fake.requests.filter((r) => r.path === '/v2/files').length;
  process.stdout.write(
    `${JSON.stringify({ uploads, requests: fake.requests.length, deployments: fake.deployments.size })}\n`,
  );
}
await fake.close();
