/** [7] The action bundle's size, and the time from process start to its first HTTP request. */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { ACTION_BUNDLE } from '../../src/local/runner.js';
import { MB, WORK, log, median, quick, type Figure } from '../harness.js';

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
    // Spawns alternate between the action and a bare Node process making the same request (the
    // floor: Node's own start), 21 of each (7 quick), so a burst of load hits both alike.
    const bare = path.join(WORK, 'bare-http-get.cjs');
    writeFileSync(
      bare,
      "require('node:http').get(process.env.ACTIONS_ID_TOKEN_REQUEST_URL, () => {}).on('error', () => {});\n",
    );
    const times = { action: [] as number[], bare: [] as number[], exchange: [] as number[] };
    const spawns = quick ? 7 : 21;
    for (let rep = 0; rep < spawns + 2; rep++) {
      for (const [name, script, until] of [
        ['action', ACTION_BUNDLE, 'token'],
        ['bare', bare, 'token'],
        ['exchange', ACTION_BUNDLE, 'exchange'],
      ] as const) {
        const time = await firstRequest(script, until);
        // The first two of each warm the page cache and are left out.
        if (rep >= 2) times[name].push(time);
      }
    }
    const action = median(times.action);
    record(
      'process start → first HTTP request',
      `${action.toFixed(0)} ms (median of ${spawns}; min ${Math.min(...times.action).toFixed(0)})`,
      '< 75 ms',
      action < 75,
    );
    record(
      '… a bare Node process making the same request (node -e http.get)',
      `${median(times.bare).toFixed(0)} ms (min ${Math.min(...times.bare).toFixed(0)})`,
      'context',
      undefined,
    );
    record(
      '… process start → exchange request (the token and the broker answering at once)',
      `${median(times.exchange).toFixed(0)} ms (min ${Math.min(...times.exchange).toFixed(0)})`,
      'context',
      undefined,
    );
  },
} satisfies Figure;

/**
 * Spawns `script` as the runner would start the action; ms until the local server sees its token
 * request (`token`), or, answering that with a token, its exchange request (`exchange`). The
 * process is then killed and reaped before the next spawn: left running (it goes on loading and
 * retrying), it would compete with the next one's start.
 */
function firstRequest(script: string, until: 'token' | 'exchange'): Promise<number> {
  let started = 0;
  return new Promise<number>((resolve) => {
    let seen = 0;
    let child: ChildProcess | undefined;
    const server = createServer((req, res) => {
      if (until === 'exchange' && req.url?.startsWith('/token')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ value: 'eyJhbGciOiJSUzI1NiJ9.e30.c2ln' }));
        return;
      }
      seen = performance.now() - started;
      res.writeHead(500).end();
      server.close();
      child?.kill('SIGKILL');
    }).listen(0, '127.0.0.1');
    server.once('listening', () => {
      const { port } = server.address() as AddressInfo;
      started = performance.now();
      child = spawn(process.execPath, [script], {
        env: {
          PATH: process.env.PATH,
          GITHUB_WORKSPACE: WORK,
          'INPUT_BROKER-URL': until === 'exchange' ? `http://127.0.0.1:${port}` : 'http://127.0.0.1:9',
          INPUT_PROJECT: 'marketing-site',
          ACTIONS_ID_TOKEN_REQUEST_URL: `http://127.0.0.1:${port}/token?api-version=2.0`,
          ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'x',
        },
        stdio: 'ignore',
      });
      const deadline = setTimeout(() => child!.kill('SIGKILL'), 5000);
      child.once('exit', () => {
        clearTimeout(deadline);
        server.close();
        resolve(seen || Number.POSITIVE_INFINITY);
      });
    });
  });
}
