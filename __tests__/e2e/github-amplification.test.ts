/**
 * GitHub API amplification (issue 24, docs/threat-model.md "3. GitHub API amplification"), through
 * the bundled broker and the local GitHub API, counting the requests that reach GitHub: refusals that
 * need no GitHub answer cause no request, what GitHub said about a job is remembered, each repository
 * spends only its own budget, and a rate-limit answer stops all requests for its wait.
 */
import { defaultClaims } from '../../src/local/github-oidc.js';
import { AUDIENCE } from '../../src/local/config.js';
import { startBundledWorld, type BundledWorld } from '../../src/local/bundled.js';
import { startGitHubApi, type GitHubApiFake } from '../../src/local/github-api/index.js';

const METRICS_TOKEN = 'metrics-token-5b0e7c21d4';
const BUDGET = 4;
let github: GitHubApiFake;
const worlds: BundledWorld[] = [];

beforeAll(async () => {
  github = await startGitHubApi();
  github.setRepository({ owner: 'acme', name: 'marketing', id: 123456789, ownerId: 987654 });
  github.setRepository({ owner: 'acme', name: 'billing', id: 555, ownerId: 987654 });
});
afterAll(async () => {
  for (const world of worlds) await world.close();
  await github.close();
});
afterEach(() => github.setRateLimited(undefined));

/** A bundled broker with the local GitHub as its app; `check_cache_seconds: 0` unless said otherwise. */
async function world(app: string) {
  const started = await startBundledWorld({
    config: { limits: { exchange_rate_per_owner: 10_000 } },
    extraConfig:
      `metrics_token_env: KEYHOLE_METRICS_TOKEN\n` +
      `github_app:\n  app_id: "${github.appId}"\n  private_key_env: KEYHOLE_GITHUB_APP_KEY\n  api_url: ${github.url}\n${app}`,
    env: { KEYHOLE_GITHUB_APP_KEY: github.privateKey, KEYHOLE_METRICS_TOKEN: METRICS_TOKEN },
  });
  worlds.push(started);
  return started;
}

let nextJob = 61_000;
/** A new job of `repository`; its check run has `status` on the local GitHub. */
function job(status: 'in_progress' | 'completed', repository = 'acme/marketing') {
  const id = String(nextJob++);
  github.setCheckRun(repository, id, status);
  const repositoryId = repository === 'acme/billing' ? '555' : '123456789';
  return { repository, repository_id: repositoryId, run_id: `9${id}`, check_run_id: id };
}

async function exchange(w: BundledWorld, claims: Record<string, string>) {
  const project = claims.repository === 'acme/billing' ? 'billing' : 'marketing-site';
  const token = await w.issuer.mint(AUDIENCE, defaultClaims({ ref: 'refs/heads/feature', ...claims }));
  const response = await fetch(`${w.broker.url}/v1/exchange`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token, project, target: 'preview' }),
  });
  const body = (await response.json()) as { error?: { code: string } };
  return { status: response.status, code: body.error?.code, retryAfter: response.headers.get('retry-after') };
}

/** GitHub requests made since `mark`; check-run reads only when asked. */
const madeSince = (mark: number, checkRuns = false) =>
  github.requests.slice(mark).filter((r) => !checkRuns || r.path.includes('/check-runs/')).length;

describe('cheap refusals, remembered answers and a per-repository budget', () => {
  let w: BundledWorld;
  beforeAll(async () => {
    // Cache 0: every exchange that reaches the job check asks GitHub, so only the order and the
    // memory of ended jobs can spare a request here.
    w = await world(`  check_cache_seconds: 0\n  max_requests_per_repository_per_minute: ${BUDGET}\n`);
  });

  test('a job that has its credential: further exchanges are refused job_limit without a GitHub request', async () => {
    const claims = job('in_progress');
    expect((await exchange(w, claims)).status).toBe(200);
    const mark = github.requests.length;
    for (let i = 0; i < 6; i++)
      expect(await exchange(w, claims)).toMatchObject({ status: 403, code: 'job_limit' });
    expect(madeSince(mark)).toBe(0);
  });

  test('a job that has ended: GitHub is asked once, later exchanges are refused from memory', async () => {
    const claims = job('completed');
    const mark = github.requests.length;
    for (let i = 0; i < 6; i++)
      expect(await exchange(w, claims)).toMatchObject({ status: 403, code: 'job_not_running' });
    expect(madeSince(mark, true)).toBe(1);
  });

  test('one repository past its budget gets 503 + Retry-After without a GitHub request; another repository still exchanges', async () => {
    const mark = github.requests.length;
    const answers = [];
    // 3 × BUDGET jobs: even straddling a minute, at most 2 × BUDGET of them reach GitHub.
    for (let i = 0; i < 3 * BUDGET; i++) answers.push(await exchange(w, job('in_progress')));
    expect(madeSince(mark, true)).toBeLessThanOrEqual(2 * BUDGET);
    const refused = answers.filter((a) => a.status === 503);
    expect(refused.length).toBeGreaterThanOrEqual(BUDGET);
    for (const answer of refused) {
      expect(answer.code).toBe('unavailable');
      expect(Number(answer.retryAfter)).toBeGreaterThanOrEqual(1);
      expect(Number(answer.retryAfter)).toBeLessThanOrEqual(60);
    }
    expect(answers.filter((a) => a.status !== 503).every((a) => a.status === 200)).toBe(true);
    // The budget is acme/marketing's own: acme/billing's job is asked about and served.
    expect((await exchange(w, job('in_progress', 'acme/billing'))).status).toBe(200);
    expect(w.broker.stdout()).toMatch(/a repository spent its GitHub request budget for this minute/);
  });
});

describe("GitHub's rate limit", () => {
  let w: BundledWorld;
  beforeAll(async () => {
    w = await world('');
  });

  const metrics = async () =>
    (
      await fetch(`${w.broker.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })
    ).text();

  /** Exchanges of new jobs until one is served (the broker's wait is over), for up to 6 s. */
  async function servedAgain(): Promise<number> {
    for (let i = 0; i < 60; i++) {
      const answer = await exchange(w, job('in_progress'));
      if (answer.status !== 503) return answer.status;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return 503;
  }

  test('a secondary rate limit: 503 with its Retry-After, logged once, counted, and no request until the wait is over', async () => {
    // A first exchange makes the broker hold an installation token, as in steady state.
    expect((await exchange(w, job('in_progress'))).status).toBe(200);
    github.setRateLimited({ kind: 'secondary', seconds: 2 });
    const mark = github.requests.length;
    expect(await exchange(w, job('in_progress'))).toMatchObject({
      status: 503,
      code: 'unavailable',
      retryAfter: '2',
    });
    for (let i = 0; i < 5; i++) {
      const answer = await exchange(w, job('in_progress'));
      expect(answer).toMatchObject({ status: 503, code: 'unavailable' });
      expect(Number(answer.retryAfter)).toBeLessThanOrEqual(2);
    }
    expect(madeSince(mark)).toBe(1);
    const text = await metrics();
    expect(text).toMatch(/^keyhole_github_rate_limits_total 1$/m);
    expect(text).toMatch(/^keyhole_github_requests_total\{outcome="rate_limited"\} 1$/m);
    expect(text).toMatch(/^keyhole_github_requests_spared_total\{reason="rate_limited"\} 5$/m);
    expect(w.broker.stdout().match(/GitHub rate-limited the broker/g)).toHaveLength(1);
    github.setRateLimited(undefined);
    expect(await servedAgain()).toBe(200);
  });

  test('a primary rate limit (x-ratelimit-remaining: 0): unreachable until its reset, then served again', async () => {
    github.setRateLimited({ kind: 'primary', seconds: 2 });
    const mark = github.requests.length;
    const first = await exchange(w, job('in_progress'));
    expect(first).toMatchObject({ status: 503, code: 'unavailable' });
    expect(Number(first.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(Number(first.retryAfter)).toBeLessThanOrEqual(3);
    expect(await exchange(w, job('in_progress'))).toMatchObject({ status: 503 });
    expect(madeSince(mark)).toBe(1);
    expect(await metrics()).toMatch(/^keyhole_github_rate_limits_total 2$/m);
    github.setRateLimited(undefined);
    expect(await servedAgain()).toBe(200);
  });
});
