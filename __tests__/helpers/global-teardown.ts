/**
 * Jest globalTeardown: the run's temp folder (global-setup.ts) must be empty, since every test
 * removes what it created. A leftover fails the run by name, then the folder goes either way.
 */
import { readdirSync, rmSync } from 'node:fs';

// Caches that tools keep in the temp folder on purpose (Node's module compile cache, used by the vercel CLI).
const CACHES = new Set(['node-compile-cache']);

export default function globalTeardown(): void {
  const dir = process.env.KEYHOLE_TEST_TMPDIR;
  if (!dir) return;
  const left = readdirSync(dir).filter((name) => !CACHES.has(name));
  rmSync(dir, { recursive: true, force: true });
  if (left.length > 0)
    throw new Error(
      `Tests left ${left.length} entries in the temp folder; remove what a test creates (afterAll/finally): ${left.join(', ')}`,
    );
}
