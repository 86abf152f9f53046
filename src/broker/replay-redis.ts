/**
 * The shared store on Redis, for several broker instances: `SET key 1 NX PX ttl` is the atomic
 * reservation; records are plain `SET … PX` / `GET`. A minimal RESP client for these four commands,
 * so the bundle carries no Redis library. Any connection or protocol failure rejects, and the
 * caller fails closed (503).
 */
import { createConnection, type Socket } from 'node:net';
import type { ReplayStore } from './replay.js';

type Reply = string | null;

/** `take` as one Lua script: Redis runs it atomically, so two instances can never both pass a limit. */
export const TAKE_SCRIPT = `local next = (tonumber(redis.call('GET', KEYS[1])) or 0) + tonumber(ARGV[1])
if next > tonumber(ARGV[2]) then return false end
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('SET', KEYS[1], next, 'KEEPTTL')
else redis.call('SET', KEYS[1], next, 'PX', ARGV[3]) end
return next`;

export class RedisReplayStore implements ReplayStore {
  private readonly host: string;
  private readonly port: number;
  private readonly timeoutMs: number;
  private socket: Socket | undefined;
  private pending: { resolve: (reply: Reply) => void; reject: (e: Error) => void }[] = [];
  private buffer: Buffer = Buffer.alloc(0);

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
    return reply === 'OK';
  }

  async release(key: string): Promise<void> {
    await this.command(['DEL', `keyhole:${key}`]);
  }

  async get(key: string): Promise<string | undefined> {
    return (await this.command(['GET', `keyhole:${key}`])) ?? undefined;
  }

  async put(key: string, value: string, ttlMs: number): Promise<void> {
    await this.command(['SET', `keyhole:${key}`, value, 'PX', String(Math.max(1, Math.ceil(ttlMs)))]);
  }

  async take(key: string, amount: number, limit: number, ttlMs: number): Promise<number | undefined> {
    const reply = await this.command([
      'EVAL',
      TAKE_SCRIPT,
      '1',
      `keyhole:${key}`,
      String(amount),
      String(Math.min(limit, Number.MAX_SAFE_INTEGER)),
      String(Math.max(1, Math.ceil(ttlMs))),
    ]);
    return reply === null ? undefined : Number(reply);
  }

  async close(): Promise<void> {
    this.socket?.end();
    this.socket = undefined;
  }

  /** Parses one complete reply from the buffer, or returns undefined if more bytes are needed. */
  private parseReply(): { reply: Reply | Error } | undefined {
    const end = this.buffer.indexOf('\r\n');
    if (end === -1) return undefined;
    const type = String.fromCharCode(this.buffer[0]!);
    const line = this.buffer.subarray(1, end).toString('utf8');
    if (type === '$') {
      const length = Number(line);
      if (length === -1) {
        this.buffer = this.buffer.subarray(end + 2);
        return { reply: null };
      }
      if (this.buffer.length < end + 2 + length + 2) return undefined;
      const data = this.buffer.subarray(end + 2, end + 2 + length).toString('utf8');
      this.buffer = this.buffer.subarray(end + 2 + length + 2);
      return { reply: data };
    }
    this.buffer = this.buffer.subarray(end + 2);
    if (type === '-') return { reply: new Error(`Redis error: ${line}`) };
    if (type === '_') return { reply: null };
    return { reply: line };
  }

  private connect(): Socket {
    if (this.socket && !this.socket.destroyed) return this.socket;
    const socket = createConnection({ host: this.host, port: this.port });
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
      for (let parsed = this.parseReply(); parsed; parsed = this.parseReply()) {
        const waiter = this.pending.shift();
        if (!waiter) continue;
        if (parsed.reply instanceof Error) waiter.reject(parsed.reply);
        else waiter.resolve(parsed.reply);
      }
    });
    const failAll = (error: Error) => {
      for (const waiter of this.pending.splice(0)) waiter.reject(error);
      this.buffer = Buffer.alloc(0);
      socket.destroy();
      if (this.socket === socket) this.socket = undefined;
    };
    socket.on('error', failAll);
    socket.on('close', () => failAll(new Error('Redis connection closed')));
    this.socket = socket;
    return socket;
  }

  private command(args: string[]): Promise<Reply> {
    const payload = `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
    return new Promise<Reply>((resolve, reject) => {
      const socket = this.connect();
      // On a timeout the connection is dropped: a late reply must never answer the next command.
      const timer = setTimeout(
        () => socket.destroy(new Error('Redis did not answer in time')),
        this.timeoutMs,
      );
      this.pending.push({
        resolve: (reply) => (clearTimeout(timer), resolve(reply)),
        reject: (error) => (clearTimeout(timer), reject(error)),
      });
      socket.write(payload);
    });
  }
}
