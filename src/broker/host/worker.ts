/**
 * The broker as a Cloudflare Worker (deploy/cloudflare/wrangler.toml): the config and secrets come
 * from the Worker's variables and secrets, the replay store is the `KEYHOLE_REPLAY` Durable Object
 * namespace shared by every isolate.
 */
import type { Broker } from '../app.js';
import {
  DurableObjectReplayStore,
  ReplayStoreObject,
  type DurableObjectNamespaceBinding,
} from '../store/durable-object.js';
import { createBrokerFromEnv, type ServerlessEnv } from './compose.js';

/** The class name `wrangler.toml` binds as `KEYHOLE_REPLAY`. */
export { ReplayStoreObject as KeyholeReplayStore };

export interface WorkerEnv {
  KEYHOLE_REPLAY: DurableObjectNamespaceBinding;
  [binding: string]: unknown;
}

let broker: Promise<Broker> | undefined;

/** Built once per isolate, on its first request (workerd forbids random values at module scope). */
function brokerFor(env: WorkerEnv): Promise<Broker> {
  if (!env.KEYHOLE_REPLAY)
    throw new Error('The KEYHOLE_REPLAY Durable Object binding is missing: add it to wrangler.toml');
  if (!broker) {
    // Variables and secrets are strings; bindings (the namespace) are not and stay out of the config.
    const strings = Object.fromEntries(
      Object.entries(env).filter((entry): entry is [string, string] => typeof entry[1] === 'string'),
    ) as ServerlessEnv;
    const starting = createBrokerFromEnv(strings, {
      replay: new DurableObjectReplayStore(env.KEYHOLE_REPLAY),
    });
    // A failed start (an invalid KEYHOLE_CONFIG, a missing key) is retried by the next request.
    starting.catch(() => {
      if (broker === starting) broker = undefined;
    });
    broker = starting;
  }
  return broker;
}

export default {
  async fetch(request: Request, env: WorkerEnv): Promise<Response> {
    let app: Broker;
    try {
      app = await brokerFor(env);
    } catch (error) {
      // Config errors name the setting to fix and never carry a secret's value.
      console.log(
        JSON.stringify({
          time: new Date().toISOString(),
          level: 'error',
          msg: 'broker failed to start',
          error: String(error),
        }),
      );
      return Response.json(
        {
          error: {
            code: 'internal_error',
            message: 'The broker failed to start; its log says which setting to fix.',
          },
        },
        { status: 500 },
      );
    }
    return app.fetch(request);
  },
};
