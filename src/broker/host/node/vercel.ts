/**
 * The broker as a Vercel Function (Node.js runtime), bundled to deploy/vercel/lib. Every
 * path reaches it through the rewrite in deploy/vercel/vercel.json; the store is Redis over
 * `rediss://` from the variable the config's `replay_store_env` names (Vercel's marketplace Redis).
 */
import { openStore } from '../../store/open.js';
import { RedisReplayStore } from '../../store/redis.js';
import type { ReplayStore } from '../../store/store.js';
import { createBrokerFromEnv, type ServerlessEnv } from '../compose.js';
import { lazyBroker } from '../lazy.js';
import { hmacSha256, verifyRs256 } from './crypto.js';

/**
 * Vercel appends the parameters a rewrite matched to the query string (`/:keyholePath*` reaches the
 * function as `/v2/files?keyholePath=v2%2Ffiles`); the broker's allow-list refuses unknown query
 * parameters, so this one is taken off again. A client cannot smuggle anything through it: it is
 * dropped whoever sent it.
 */
export const REWRITE_PARAM = 'keyholePath';

export function withoutRewriteParam(request: Request): Request {
  const url = new URL(request.url);
  if (!url.search) return request;
  const kept = url.search
    .slice(1)
    .split('&')
    .filter((part) => part !== '' && part.split('=')[0] !== REWRITE_PARAM);
  const search = kept.length ? `?${kept.join('&')}` : '';
  if (search === url.search) return request;
  const target = `${url.origin}${url.pathname}${search}`;
  return new Request(target, {
    method: request.method,
    headers: request.headers,
    ...(request.body ? { body: request.body, duplex: 'half' } : {}),
    signal: request.signal,
  } as RequestInit);
}

const stores: ReplayStore[] = [];
const closeStores = async () => {
  await Promise.all(stores.splice(0).map((store) => store.close?.()));
};

const broker = lazyBroker(
  () =>
    createBrokerFromEnv(process.env as ServerlessEnv, {
      // Vercel Functions run Node.js: its crypto, as the long-lived process uses.
      crypto: { verifyRs256, hmacSha256 },
      openStore: (url) => {
        const store = openStore(url, {
          log: (level, msg, fields) => console.log(JSON.stringify({ level, msg, ...fields })),
          // Loaded with the function, not deferred: its file tracing follows static imports only.
          redis: (redisUrl, redisOptions) => new RedisReplayStore(redisUrl, redisOptions),
        });
        stores.push(store);
        return store;
      },
    }),
  { log: (line) => console.log(line), onFailure: closeStores },
);

/** Closes this instance's Redis connection (tests, or a runtime that signals shutdown). */
export async function close(): Promise<void> {
  broker.reset();
  await closeStores();
}

export default {
  fetch: (request: Request): Promise<Response> => broker.fetch(withoutRewriteParam(request)),
};
