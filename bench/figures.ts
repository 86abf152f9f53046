/**
 * Every figure of `npm run bench`, in the order they run and print. Adding a figure: a module
 * under figures/ that default-exports a `Figure`, and one line here.
 */
import type { Figure } from './harness.js';

export const FIGURES: readonly Figure[] = (
  await Promise.all([
    import('./figures/gateway.js'),
    import('./figures/hashing.js'),
    import('./figures/cli.js'),
    import('./figures/archive.js'),
    import('./figures/nextjs.js'),
    import('./figures/exchanges.js'),
    import('./figures/job-bound.js'),
    import('./figures/store.js'),
    import('./figures/scale-out.js'),
    import('./figures/memory.js'),
    import('./figures/redeploy.js'),
    import('./figures/load.js'),
    import('./figures/startup.js'),
    import('./figures/hostile-load.js'),
  ])
).map((module) => module.default);
