/**
 * The job's first OIDC token, asked for as the process starts. Loading the action takes longer
 * than GitHub's round trip (@actions/core alone loads undici with its HTTP client: about 75 ms,
 * docs/benchmarks.md "Action start-up"), so the entry starts this request and then loads the
 * rest; the exchange takes the token if it is for the audience the inputs settle on. Only a main
 * step that may request tokens asks, and anything unexpected (no token, a broker-url that does
 * not parse, an error, a slow answer) leaves the exchange to ask through @actions/core as before.
 * The token is one GitHub would issue the step anyway: held in memory, masked before any use.
 */
import { readAudience } from './broker-url.js';
import { STATE } from './state.js';

export interface EarlyToken {
  audience: string;
  /** The token, or undefined when the early request did not give one. */
  token: Promise<string | undefined>;
  /**
   * Settles once the request is on its way (or failed, or SENT_WAIT_MS passed). Loading the rest
   * of the action holds the event loop: started earlier, it would hold the request back with it.
   */
  sent: Promise<void>;
}

/** The whole request, answer included: past it the exchange asks again itself (a slow trickle too). */
const TIMEOUT_MS = 10_000;
/** A token is a few kilobytes; an answer past this is not one. */
const MAX_ANSWER_BYTES = 64 * 1024;
/** A slow network does not hold the loading back for longer than this. */
const SENT_WAIT_MS = 1_000;

/** @actions/core's getInput without loading @actions/core: INPUT_<NAME>, spaces as `_`, trimmed. */
export const inputFromEnv = (env: NodeJS.ProcessEnv) => (name: string) =>
  (env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] ?? '').trim();

/** Proxy variables the runner may set: then the request waits for @actions/core, which honours them. */
const PROXY_VARIABLES = ['https_proxy', 'HTTPS_PROXY', 'http_proxy', 'HTTP_PROXY'];

export function requestEarlyToken(env: NodeJS.ProcessEnv): EarlyToken | undefined {
  // The post step (core.getState's STATE_<name>) never exchanges.
  if (env[`STATE_${STATE.isPost}`]) return undefined;
  const { ACTIONS_ID_TOKEN_REQUEST_URL: url, ACTIONS_ID_TOKEN_REQUEST_TOKEN: bearer } = env;
  if (!url || !bearer || PROXY_VARIABLES.some((name) => env[name])) return undefined;
  const audience = readAudience(inputFromEnv(env));
  if (!audience) return undefined;
  let tokenUrl: URL;
  try {
    // The request @actions/core's OidcClient makes: the runner's URL with the audience appended.
    tokenUrl = new URL(`${url}&audience=${encodeURIComponent(audience)}`);
  } catch {
    return undefined;
  }
  if (tokenUrl.protocol !== 'https:' && tokenUrl.protocol !== 'http:') return undefined;
  return { audience, ...getToken(tokenUrl, bearer) };
}

/**
 * GETs the token with node:http(s), not fetch: Node loads its fetch (undici) on first use, which
 * takes as long as @actions/core's own load. Settles undefined on anything but a 200 with a token.
 */
function getToken(url: URL, bearer: string): Pick<EarlyToken, 'token' | 'sent'> {
  let markSent = () => {};
  const sent = new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, SENT_WAIT_MS);
    markSent = () => {
      clearTimeout(timer);
      resolve();
    };
  });
  const token = new Promise<string | undefined>((resolve) => {
    // Only the module the URL needs: node:https loads TLS, which a loopback test's http URL does not use.
    const client = process.getBuiltinModule(url.protocol === 'https:' ? 'node:https' : 'node:http');
    const request = client.get(
      url,
      {
        headers: {
          authorization: `Bearer ${bearer}`,
          accept: 'application/json',
          'user-agent': 'actions/oidc-client',
        },
        signal: AbortSignal.timeout(TIMEOUT_MS),
      },
      (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_ANSWER_BYTES) request.destroy();
          else chunks.push(chunk);
        });
        response.on('end', () => {
          if (response.statusCode !== 200) return resolve(undefined);
          try {
            const { value } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { value?: unknown };
            resolve(typeof value === 'string' && value !== '' ? value : undefined);
          } catch {
            resolve(undefined);
          }
        });
        response.on('error', () => resolve(undefined));
        // After 'end' this changes nothing; before it (a cut answer) it settles the promise.
        response.on('close', () => resolve(undefined));
      },
    );
    request.on('finish', markSent);
    request.on('error', () => {
      markSent();
      resolve(undefined);
    });
  });
  return { token, sent };
}

/** The early token once, if it is for `audience`; later attempts ask GitHub for fresh ones. */
export async function takeEarlyToken(
  early: { current?: EarlyToken },
  audience: string,
): Promise<string | undefined> {
  const taken = early.current;
  early.current = undefined;
  if (!taken || taken.audience !== audience) return undefined;
  return taken.token;
}
