/**
 * [9] What job-bound credentials cost at the exchange: the plain exchange beside one with
 * require_dpop (a proof verified, its jti recorded) and one with the github_app check (the job's
 * check run read from a local GitHub API, a new job each time, so never from the cache).
 */
import { createProof, createProofKey } from '../../src/action/dpop.js';
import { startGitHubApi } from '../../src/local/github-api/index.js';
import { defaultClaims } from '../../src/local/github-oidc.js';
import { freePort } from '../../src/local/redis.js';
import { AUDIENCE } from '../../src/local/config.js';
import { log, median, quick, startBroker, startFakeProcess, type Figure } from '../harness.js';

const percentile = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

export default {
  name: 'job-bound',
  async run({ issuer, record }) {
    const count = quick ? 150 : 400;
    log(
      `\n[9] exchange latency, one at a time (${count} after a warm-up): plain, require_dpop, github_app check`,
    );
    const fake = await startFakeProcess();
    const github = await startGitHubApi();
    github.setRepository({ owner: 'acme', name: 'marketing', id: 123456789, ownerId: 987654 });
    let checkRun = 5_000_000;
    const key = await createProofKey();

    /** Sequential exchanges, each with a new job; `prepare` adds what the variant needs to a request. */
    async function measure(
      url: string,
      prepare: (claims: Record<string, string>) => Promise<Record<string, string>>,
    ): Promise<number[]> {
      const once = async () => {
        const claims = { check_run_id: String(checkRun++) };
        github.setCheckRun('acme/marketing', claims.check_run_id, 'in_progress');
        const token = await issuer.mint(AUDIENCE, defaultClaims(claims));
        const headers = await prepare(claims);
        const started = performance.now();
        const response = await fetch(`${url}/v1/exchange`, {
          method: 'POST',
          headers,
          body: JSON.stringify({ token, project: 'marketing-site', target: 'preview' }),
        });
        await response.arrayBuffer();
        if (response.status !== 200) throw new Error(`exchange answered ${response.status}`);
        return performance.now() - started;
      };
      for (let i = 0; i < 100; i++) await once();
      const times: number[] = [];
      for (let i = 0; i < count; i++) times.push(await once());
      return times;
    }

    const results: Record<string, number[]> = {};
    try {
      const plain = await startBroker(issuer, fake.url);
      try {
        results.plain = await measure(plain.url, async () => ({}));
      } finally {
        await plain.stop();
      }
      const port = await freePort();
      const dpop = await startBroker(issuer, fake.url, undefined, {
        port,
        config: {
          public_url: `http://127.0.0.1:${port}`,
          projects: { 'marketing-site': { require_dpop: true } },
        },
      });
      try {
        results.dpop = await measure(dpop.url, async () => ({
          dpop: await createProof(key, 'POST', `${dpop.url}/v1/exchange`),
        }));
      } finally {
        await dpop.stop();
      }
      const checked = await startBroker(issuer, fake.url, undefined, {
        env: { KEYHOLE_GITHUB_APP_KEY: github.privateKey },
        config: {
          github_app: {
            app_id: github.appId,
            private_key_env: 'KEYHOLE_GITHUB_APP_KEY',
            api_url: github.url,
            // Hundreds of jobs a minute from one repository: the cost of a check, not the budget.
            max_requests_per_repository_per_minute: 5000,
          },
        },
      });
      try {
        results.github = await measure(checked.url, async () => ({}));
      } finally {
        await checked.stop();
      }
    } finally {
      await github.close();
      fake.stop();
    }
    const p50 = (name: string) => median(results[name]!);
    const row = (name: string) =>
      `${p50(name).toFixed(1)} ms / ${percentile(results[name]!, 99).toFixed(1)} ms`;
    record('exchange p50 / p99, plain (one at a time)', row('plain'), 'context', undefined);
    for (const [name, label] of [
      ['dpop', 'require_dpop (proof verified, jti recorded)'],
      ['github', 'github_app check (check run read from a local GitHub)'],
    ] as const) {
      const added = p50(name) - p50('plain');
      record(
        `exchange p50 / p99, ${label}`,
        `${row(name)} (+${added.toFixed(1)} ms p50)`,
        '≤ +5 ms p50 over plain',
        added <= 5,
      );
    }
  },
} satisfies Figure;
