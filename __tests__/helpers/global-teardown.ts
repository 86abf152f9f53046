/**
 * Jest globalTeardown: the run's temp folder (global-setup.ts) must be empty, since every test
 * removes what it created. A leftover fails the run by name, then the folder goes either way.
 */
import { readdirSync, readlinkSync, rmSync } from 'node:fs';

// Caches that tools keep in the temp folder on purpose (Node's module compile cache, used by the vercel CLI).
const CACHES = new Set(['node-compile-cache']);

/**
 * Servers a test started in the run's folder (redis-server runs there) and did not stop, because
 * Jest force-exited its worker: ended here, so no run leaves a process behind on the machine.
 */
function stopStrayServers(dir: string): void {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return; // no /proc (not Linux): nothing to look through
  }
  for (const pid of pids) {
    let cwd: string;
    try {
      cwd = readlinkSync(`/proc/${pid}/cwd`);
    } catch {
      continue; // gone, or not ours to read
    }
    if (cwd !== dir && !cwd.startsWith(`${dir}/`)) continue;
    process.stderr.write(
      `[keyhole test teardown] stopping a process a test left running (pid ${pid}, in ${cwd})\n`,
    );
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // it ended meanwhile
    }
  }
}

export default function globalTeardown(): void {
  const dir = process.env.KEYHOLE_TEST_TMPDIR;
  if (!dir) return;
  stopStrayServers(dir);
  const left = readdirSync(dir).filter((name) => !CACHES.has(name));
  rmSync(dir, { recursive: true, force: true });
  if (left.length > 0)
    throw new Error(
      `Tests left ${left.length} entries in the temp folder; remove what a test creates (afterAll/finally): ${left.join(', ')}`,
    );
}
