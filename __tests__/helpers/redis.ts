/** A real redis-server on a free loopback port, for the suites that run several broker instances on one store. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { REDIS_INSTALL_COMMAND } from './global-setup.js';

export async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Starts redis-server without persistence; global-setup.ts has installed it, or says here why not. */
export async function startRedis(): Promise<{ port: number; url: string; process: ChildProcess }> {
  if (process.env.KEYHOLE_REDIS_MISSING) throw new Error(process.env.KEYHOLE_REDIS_MISSING);
  const port = await freePort();
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  await new Promise<void>((resolve, reject) => {
    child.once('error', (error) =>
      reject(new Error(`redis-server could not start (${error.message}). Run: ${REDIS_INSTALL_COMMAND}`)),
    );
    child.once('exit', (code) => reject(new Error(`redis-server exited ${code} before it was ready`)));
    let output = '';
    child.stdout!.on('data', (d: Buffer) => {
      output += d.toString();
      if (output.includes('Ready to accept connections')) resolve();
    });
  });
  return { port, url: `redis://127.0.0.1:${port}`, process: child };
}
