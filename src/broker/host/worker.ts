/**
 * The broker as a Cloudflare Worker (deploy/cloudflare/wrangler.toml): the config and secrets come
 * from the Worker's variables and secrets, the replay store is the `KEYHOLE_REPLAY` Durable Object
 * namespace shared by every isolate.
 */
import {
  DurableObjectReplayStore,
  ReplayStoreObject,
  type DurableObjectNamespaceBinding,
} from '../store/durable-object.js';
import { createBrokerFromEnv, type ServerlessEnv } from './compose.js';
import { lazyBroker, type LazyBroker } from './lazy.js';

/** The class name `wrangler.toml` binds as `KEYHOLE_REPLAY`. */
export { ReplayStoreObject as KeyholeReplayStore };

export interface WorkerEnv {
  KEYHOLE_REPLAY: DurableObjectNamespaceBinding;
  [binding: string]: unknown;
}

let broker: LazyBroker | undefined;

/**
 * `/readyz` belongs to `keyhole-broker serve`: on a Worker it would reach the gateway and answer
 * 401, which reads as a broken deploy to whoever points a health check at it.
 */
function readyzNotServed(): Response {
  return Response.json(
    {
      error: {
        code: 'not_found',
        message:
          '/readyz is not served on Workers (it belongs to keyhole-broker serve); probe /healthz for liveness and read Workers analytics and logs (docs/operations.md)',
      },
    },
    { status: 404 },
  );
}

export default {
  fetch(request: Request, env: WorkerEnv): Promise<Response> {
    if (new URL(request.url).pathname === '/readyz') return Promise.resolve(readyzNotServed());
    // Built on the isolate's first request: workerd forbids random values at module scope.
    broker ??= lazyBroker(
      async () => {
        if (!env.KEYHOLE_REPLAY)
          throw new Error('The KEYHOLE_REPLAY Durable Object binding is missing: add it to wrangler.toml');
        // Variables and secrets are strings; bindings (the namespace) are not and stay out of the config.
        const strings = Object.fromEntries(
          Object.entries(env).filter((entry): entry is [string, string] => typeof entry[1] === 'string'),
        ) as ServerlessEnv;
        return createBrokerFromEnv(strings, { replay: new DurableObjectReplayStore(env.KEYHOLE_REPLAY) });
      },
      { log: (line) => console.log(line) },
    );
    return broker.fetch(request);
  },
};
