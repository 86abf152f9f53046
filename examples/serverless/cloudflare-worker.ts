// A Cloudflare Worker serving the broker; bindings: KEYHOLE_CONFIG, KEYHOLE_SIGNING_KEY, VERCEL_TOKEN_*.
import { createBrokerFromEnv, type ServerlessEnv } from '../../src/broker/serverless.js';
import type { ReplayStore } from '../../src/broker/replay.js';

declare const createReplayStore: (env: ServerlessEnv) => ReplayStore; // e.g. a Durable Object or Redis-over-HTTP

let broker: ReturnType<typeof createBrokerFromEnv> | undefined;

export default {
  async fetch(request: Request, env: ServerlessEnv): Promise<Response> {
    broker ??= createBrokerFromEnv(env, { replay: createReplayStore(env) });
    return (await broker).fetch(request);
  },
};
