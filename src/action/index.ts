/**
 * Entry point of the action bundle (dist/action/index.js). It asks GitHub for the job's OIDC
 * token first (early-token.ts) and, once the request is on its way, loads the rest of the action,
 * which waits in its own chunk: GitHub's answer and the loading overlap.
 */
import { requestEarlyToken } from './early-token.js';

const earlyToken = requestEarlyToken(process.env);
await earlyToken?.sent;
const { start } = await import('./start.js');
await start(earlyToken);
