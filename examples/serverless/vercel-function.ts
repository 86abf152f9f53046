// api/[...path].ts in a Vercel project (Node.js runtime), built from this repository's source with your
// bundler. Environment: KEYHOLE_CONFIG (the YAML), KEYHOLE_SIGNING_KEY, the upstream token variables.
// Serve it at an origin root (its own domain): the Vercel CLI drops path prefixes given to --api.
import { createBrokerFromEnv, type ServerlessEnv } from '../../src/broker/serverless.js';
import type { ReplayStore } from '../../src/broker/replay.js';

declare const createReplayStore: (env: ServerlessEnv) => ReplayStore; // a store shared by all instances

const env = process.env as unknown as ServerlessEnv;
const broker = createBrokerFromEnv(env, { replay: createReplayStore(env) });

export default {
  fetch: async (request: Request) => (await broker).fetch(request),
};
