/** [4] The broker's peak RSS while it streams one large upload, as launched in production and with Node's defaults. */
import { createCipheriv, createHash } from 'node:crypto';
import type { GitHubIssuer } from '../../src/local/github-oidc.js';
import {
  MB,
  credentialFor,
  log,
  peakRssBytes,
  quick,
  startBroker,
  startFakeProcess,
  type Figure,
} from '../harness.js';

async function uploadPeak(issuer: GitHubIssuer, size: number, nodeFlags?: string[]) {
  const fake = await startFakeProcess();
  const broker = await startBroker(issuer, fake.url, nodeFlags);
  try {
    const credential = await credentialFor(issuer, broker);
    const idle = peakRssBytes(broker.process.pid!);
    const key = Buffer.alloc(16, 9);
    const stream = (onChunk?: (b: Buffer) => void) => {
      const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
      let sent = 0;
      return new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent >= size) return controller.close();
          const part = cipher.update(Buffer.alloc(Math.min(MB, size - sent)));
          sent += part.length;
          onChunk?.(part);
          controller.enqueue(part);
        },
      });
    };
    const hash = createHash('sha1');
    const reader = stream((b) => hash.update(b)).getReader();
    while (!(await reader.read()).done);
    const started = performance.now();
    const response = await fetch(`${broker.url}/v2/files`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${credential}`,
        'x-vercel-digest': hash.digest('hex'),
        'content-length': String(size),
        'content-type': 'application/octet-stream',
      },
      body: stream(),
      duplex: 'half',
    } as RequestInit);
    if (response.status !== 200)
      throw new Error(`upload answered ${response.status}: ${await response.text()}`);
    return {
      idle,
      peak: peakRssBytes(broker.process.pid!),
      perSecond: size / MB / ((performance.now() - started) / 1000),
    };
  } finally {
    await broker.stop();
    fake.stop();
  }
}

export default {
  name: 'memory',
  async run({ issuer, record }) {
    const size = quick ? 256 * MB : 1024 * MB;
    log(
      `\n[4] broker peak RSS while streaming one ${size / MB} MB upload (as launched in production, and with Node's defaults)`,
    );
    const tuned = await uploadPeak(issuer, size);
    const defaults = await uploadPeak(issuer, size, []);
    const mb = (n: number) => `${(n / MB).toFixed(0)} MB`;
    record(
      `broker peak RSS streaming ${size / MB} MB (node --max-semi-space-size=1)`,
      `${mb(tuned.peak)} (idle ${mb(tuned.idle)}; ${tuned.perSecond.toFixed(0)} MB/s)`,
      '< 100 MB',
      tuned.peak < 100 * MB,
    );
    record(
      `… the same with Node's default heap flags`,
      `${mb(defaults.peak)} (idle ${mb(defaults.idle)}; ${defaults.perSecond.toFixed(0)} MB/s)`,
      'flat',
      undefined,
    );
  },
} satisfies Figure;
