// The Vercel Function: every path reaches it through the rewrite in vercel.json. The broker itself is
// the self-contained bundle in ../lib (built from src/broker/host/node/vercel.ts by `npm run bundle`).
export { default } from '../lib/index.js';
