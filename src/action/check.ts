/**
 * The post-READY check (`check-path`): GETs the path on the deployment and on its alias with the
 * job's own GitHub OIDC token in `x-vercel-trusted-oidc-idp-token`, the header Vercel's Trusted
 * Sources accept in place of a protection-bypass secret (docs/protected-previews.md).
 *
 * The deployment host is Vercel's answer and the page is the deployed code's: both are hostile. So
 * the URL is https (http only on loopback, for the local world), redirects are followed by hand and
 * only on the same origin, every request has a deadline, at most CHECK_BODY_BYTES of the body are
 * read, and that prefix reaches the log and summary only through relay.ts.
 */
import { isHttpsOrLoopback } from '../shared/wire.js';
import { requestOIDCToken } from './oidc.js';
import { inertText } from './relay.js';
import type { Step } from './step.js';

/** The header Vercel's Trusted Sources read the caller's OIDC token from. */
export const TRUSTED_OIDC_HEADER = 'x-vercel-trusted-oidc-idp-token';
/**
 * The audience of the token sent to the deployment: its own, never the broker's (the deployed code
 * may see the header, and must not be able to replay it at the broker) and not GitHub's default
 * owner URL (which other services may trust). The Trusted Sources rule pins `aud` to it.
 */
export const CHECK_AUDIENCE = 'vercel-trusted-sources';
/** Redirects followed on the same origin before the check gives up. */
export const MAX_CHECK_REDIRECTS = 3;
/** Each request's deadline. */
export const CHECK_TIMEOUT_MS = 10_000;
/** The body prefix read for the log; the rest is never downloaded. */
export const CHECK_BODY_BYTES = 512;

/** One checked URL: its final status (the redirect's own when it pointed elsewhere), or why none. */
export interface CheckResult {
  url: string;
  status?: number;
  /** A network error, a timeout, or a redirect not followed. */
  problem?: string;
}

export interface CheckReport {
  path: string;
  results: CheckResult[];
}

/** Why `path` is not a check-path, or undefined when it is one: a path of the deployment's own host. */
export function checkPathProblem(path: string): string | undefined {
  if (!path.startsWith('/') || path.startsWith('//'))
    return 'must be a path on the deployment starting with a single "/", e.g. /api/health (no scheme or host)';
  // eslint-disable-next-line no-control-regex
  if (/[\\\u0000-\u0020\u007f-\u00a0]/.test(path))
    return 'must not contain a backslash, spaces or control characters; percent-encode them';
  if (path.length > 2048) return 'must be at most 2048 characters';
  return undefined;
}

/** What is wrong with the check inputs, as [input, message] pairs: nothing for a plain path. */
export function checkInputProblems(
  checkPath: string,
  checkRequired: boolean,
  audience: string,
): [string, string][] {
  const problems: [string, string][] = [];
  const problem = checkPath ? checkPathProblem(checkPath) : undefined;
  if (problem) problems.push(['check-path', `"${checkPath.slice(0, 80)}" ${problem}`]);
  if (checkRequired && !checkPath) problems.push(['check-required', 'needs check-path, the path to check']);
  if (checkPath && audience === CHECK_AUDIENCE)
    problems.push([
      'audience',
      `must not be ${CHECK_AUDIENCE}, the audience of the token check-path sends to the deployment`,
    ]);
  return problems;
}

/** The origin of a host Vercel reported (`name-abc.vercel.app`): https, or http on loopback only. */
export function checkOrigin(host: string): URL | undefined {
  const bare = host.replace(/^https?:\/\//, '');
  const loopback = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?$/.test(bare);
  let url: URL;
  try {
    url = new URL(`${loopback ? 'http' : 'https'}://${bare}`);
  } catch {
    return undefined;
  }
  const plain = url.host === bare.toLowerCase() && url.pathname === '/' && !url.search && !url.hash;
  return plain && isHttpsOrLoopback(url) ? url : undefined;
}

/** Reads at most `limit` bytes of the body and drops the rest unread. */
async function bodyPrefix(response: Response, limit: number): Promise<string> {
  const reader = response.body?.getReader();
  if (!reader) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < limit) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return Buffer.concat(chunks).subarray(0, limit).toString('utf8');
}

/** GETs `path` on `origin`, following redirects that stay on the origin. */
async function checkOne(step: Step, origin: URL, path: string, token: string): Promise<CheckResult> {
  let url = new URL(path, origin);
  for (let hop = 0; ; hop++) {
    const response = await step.deps.fetch(url, {
      redirect: 'manual',
      headers: { [TRUSTED_OIDC_HEADER]: token },
      signal: AbortSignal.any([step.deps.signal, AbortSignal.timeout(CHECK_TIMEOUT_MS)]),
    });
    const location = response.headers.get('location');
    if (response.status >= 300 && response.status < 400 && location) {
      await response.body?.cancel();
      let next: URL | undefined;
      try {
        next = new URL(location, url);
      } catch {
        next = undefined;
      }
      // The token goes nowhere but the host Vercel named: another origin is a failure, not a hop.
      if (!next || next.origin !== origin.origin)
        return {
          url: url.href,
          status: response.status,
          problem: 'redirects to another host (not followed)',
        };
      if (hop >= MAX_CHECK_REDIRECTS)
        return {
          url: url.href,
          status: response.status,
          problem: `more than ${MAX_CHECK_REDIRECTS} redirects`,
        };
      url = next;
      continue;
    }
    const body = await bodyPrefix(response, CHECK_BODY_BYTES);
    step.deps.core.info(
      `check ${url.href}: ${response.status}${response.ok || !body ? '' : `; body starts: ${inertText(body.slice(0, 200))}`}`,
    );
    return { url: url.href, status: response.status };
  }
}

const failedText = (r: CheckResult) =>
  `${r.status ?? 'no answer'}${r.problem ? ` (${r.problem})` : ''} at ${r.url}`;

/** True when the check passed: a 2xx with no problem. */
export const checkPassed = (r: CheckResult) =>
  r.problem === undefined && r.status !== undefined && r.status >= 200 && r.status < 300;

/**
 * Checks the deployment (and the alias): fails the step on anything but a 2xx when check-required,
 * warns otherwise. The token is registered as a secret before anything else sees it.
 */
export async function runCheck(step: Step, hosts: { deployment: string; alias?: string }): Promise<void> {
  const { deps, settings, record } = step;
  const { core } = deps;
  const path = settings.checkPath;
  const check: CheckReport = (record.report.check = { path, results: [] });
  const token = await requestOIDCToken(CHECK_AUDIENCE, deps.env, core.getIDToken);
  core.setSecret(token);
  for (const host of [hosts.deployment, ...(hosts.alias ? [hosts.alias] : [])]) {
    const origin = checkOrigin(host);
    if (!origin) {
      check.results.push({
        url: 'the host Vercel reported',
        problem: 'not an https host name; not requested',
      });
      continue;
    }
    try {
      check.results.push(await step.phase('check', () => checkOne(step, origin, path, token)));
    } catch (error) {
      const reason = error instanceof Error && error.name === 'TimeoutError' ? 'timed out' : 'network error';
      check.results.push({ url: new URL(path, origin).href, problem: reason });
    }
  }
  const failed = check.results.filter((r) => !checkPassed(r));
  if (failed.length === 0) return;
  const message = `check-path ${path} answered ${failed.map(failedText).join('; ')}`;
  if (settings.checkRequired) throw new Error(`${message}; the check is required (check-required: true)`);
  core.warning(`${message}; not failing the step (set check-required: true to fail it)`);
}
