/** A ReplayStore on Redis for several broker instances: `SET key 1 NX PX ttl` is the atomic reservation. */
import { createConnection, type Socket } from 'node:net';
import type { ReplayStore } from './replay.js';

/**
 * A minimal RESP client for the one command the broker needs, so the bundle carries no Redis
 * library. Any connection or protocol failure rejects: the exchange then fails closed with 503.
 */
export class RedisReplayStore implements ReplayStore {
  private readonly host: string;
  private readonly port: number;
  private readonly timeoutMs: number;
  private socket: Socket | undefined;
  private pending: { resolve: (line: string) => void; reject: (e: Error) => void }[] = [];
  private buffer = '';

  constructor(url: string, options: { timeoutMs?: number } = {}) {
    const parsed = new URL(url);
    this.host = parsed.hostname || '127.0.0.1';
    this.port = Number(parsed.port || 6379);
    this.timeoutMs = options.timeoutMs ?? 2_000;
  }

  async reserve(key: string, ttlMs: number): Promise<boolean> {
    const reply = await this.command([
      'SET',
      `keyhole:${key}`,
      '1',
      'NX',
      'PX',
      String(Math.max(1, Math.ceil(ttlMs))),
    ]);
    if (reply === '+OK') return true;
    if (reply === '$-1' || reply === '_') return false;
    throw new Error(`unexpected Redis reply ${reply.slice(0, 40)}`);
  }

  async close(): Promise<void> {
    this.socket?.end();
    this.socket = undefined;
  }

  private connect(): Socket {
    if (this.socket && !this.socket.destroyed) return this.socket;
    const socket = createConnection({ host: this.host, port: this.port });
    socket.setNoDelay(true);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      let end: number;
      while ((end = this.buffer.indexOf('\r\n')) !== -1) {
        const line = this.buffer.slice(0, end);
        this.buffer = this.buffer.slice(end + 2);
        const waiter = this.pending.shift();
        if (!waiter) continue;
        if (line.startsWith('-')) waiter.reject(new Error(`Redis error: ${line.slice(1)}`));
        else waiter.resolve(line);
      }
    });
    const failAll = (error: Error) => {
      for (const waiter of this.pending.splice(0)) waiter.reject(error);
      this.buffer = '';
      socket.destroy();
      if (this.socket === socket) this.socket = undefined;
    };
    socket.on('error', failAll);
    socket.on('close', () => failAll(new Error('Redis connection closed')));
    this.socket = socket;
    return socket;
  }

  private command(args: string[]): Promise<string> {
    const payload = `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
    return new Promise<string>((resolve, reject) => {
      // On a timeout the connection is dropped: a late reply must never answer the next command.
      const timer = setTimeout(
        () => this.socket?.destroy(new Error('Redis did not answer in time')),
        this.timeoutMs,
      );
      this.pending.push({
        resolve: (line) => (clearTimeout(timer), resolve(line)),
        reject: (error) => (clearTimeout(timer), reject(error)),
      });
      this.connect().write(payload);
    });
  }
}
