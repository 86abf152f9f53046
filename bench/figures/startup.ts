/** [7] The action bundle's size, and the time from process start to its first HTTP request. */
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { ACTION_BUNDLE } from '../../src/local/runner.js';
import { MB, REPS, WORK, log, median, type Figure } from '../harness.js';

export default {
  name: 'startup',
  async run({ record }) {
    log('\n[7] action bundle size; time from process start to its first HTTP request');
    const size = statSync(ACTION_BUNDLE).size;
    const dir = path.dirname(ACTION_BUNDLE);
    const all = readdirSync(dir)
      .filter((f) => f.endsWith('.js'))
      .reduce((n, f) => n + statSync(path.join(dir, f)).size, 0);
    record(
      'dist/action/index.js size (all chunks)',
      `${(size / MB).toFixed(2)} MB (${(all / MB).toFixed(2)} MB)`,
      '≤ 3 MB',
      all <= 3 * MB,
    );
    const times: number[] = [];
    for (let rep = 0; rep < REPS + 2; rep++) {
      let started = 0;
      const first = new Promise<number>((resolve) => {
        const server = createServer((_req, res) => {
          resolve(performance.now() - started);
          res.writeHead(500).end();
          server.close();
        }).listen(0, '127.0.0.1');
        server.once('listening', () => {
          const { port } = server.address() as AddressInfo;
          started = performance.now();
          const child = spawn(process.execPath, [ACTION_BUNDLE], {
            env: {
              PATH: process.env.PATH,
              GITHUB_WORKSPACE: WORK,
              'INPUT_BROKER-URL': 'http://127.0.0.1:9',
              INPUT_PROJECT: 'marketing-site',
              ACTIONS_ID_TOKEN_REQUEST_URL: `http://127.0.0.1:${port}/token?api-version=2.0`,
              ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'x',
            },
            stdio: 'ignore',
          });
          setTimeout(() => child.kill(), 5000).unref();
        });
      });
      times.push(await first);
    }
    // The first two runs warm the page cache and are left out of the median.
    record(
      'process start → first HTTP request',
      `${median(times.slice(2)).toFixed(0)} ms (median of ${REPS})`,
      '< 75 ms',
      median(times.slice(2)) < 75,
    );
  },
} satisfies Figure;
