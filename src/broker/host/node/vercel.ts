/**
 * The broker as a Vercel Function (Node.js runtime), bundled to deploy/vercel/lib. Every
 * path reaches it through the rewrite in deploy/vercel/vercel.json; the store is Redis over
 * `rediss://` from the variable the config's `replay_store_env` names (Vercel's marketplace Redis).
 */
import type { Broker } from '../../app.js';
import { RedisReplayStore, storeEventLog } from '../../store/redis.js';
import { createBrokerFromEnv, type ServerlessEnv } from '../compose.js';

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

let broker: Promise<Broker> | undefined;
const stores: RedisReplayStore[] = [];

/** Closes this instance's Redis connection (tests, or a runtime that signals shutdown). */
export async function close(): Promise<void> {
  broker = undefined;
  await Promise.all(stores.splice(0).map((store) => store.close()));
}

export default {
  async fetch(request: Request): Promise<Response> {
    broker ??= createBrokerFromEnv(process.env as ServerlessEnv, {
      openStore: (url) => {
        const store = new RedisReplayStore(url, {
          onEvent: storeEventLog(
            (level, msg, fields) => console.log(JSON.stringify({ level, msg, ...fields })),
            url,
          ),
        });
        stores.push(store);
        return store;
      },
    });
    let ready: Broker;
    try {
      ready = await broker;
    } catch (error) {
      // A bad config or a missing key: say so in the log, answer 503, and try again next request
      // (closing what the failed start opened, so retries do not pile up connections).
      broker = undefined;
      await Promise.all(stores.splice(0).map((store) => store.close()));
      console.log(
        JSON.stringify({ level: 'error', msg: 'broker cannot start', error: (error as Error).message }),
      );
      return new Response(
        JSON.stringify({
          error: { code: 'unavailable', message: 'The broker is misconfigured; its log says how.' },
        }),
        { status: 503, headers: { 'content-type': 'application/json; charset=utf-8' } },
      );
    }
    return ready.fetch(withoutRewriteParam(request));
  },
};
