/**
 * `pushedExactly`, the per-file upload's event-driven body (the Node adapter's request stream): the
 * upstream request waits for the first piece, carries exactly the declared size, honours
 * back-pressure, and is failed, never ended, for a body longer or shorter than declared or a client
 * that goes away.
 */
import { BrokerError } from '../../src/broker/errors.js';
import { pushedExactly, type PieceSink, type PushBody } from '../../src/broker/gateway/streams.js';

/** A body driven by hand: `send`, `finish`, `abort`, and what the consumer asked of its flow. */
function handBody() {
  let into: Parameters<PushBody['pushPieces']>[0] | undefined;
  const flow = { paused: false, pauses: 0, resumes: 0 };
  const queued: Uint8Array[] = [];
  const drain = () => {
    while (!flow.paused && queued.length > 0) into!.piece(queued.shift()!);
  };
  const body: PushBody = {
    [Symbol.asyncIterator]() {
      throw new Error('a pushed body is not iterated');
    },
    pushPieces(handlers) {
      into = handlers;
      return {
        pause: () => {
          flow.paused = true;
          flow.pauses++;
        },
        resume: () => {
          flow.paused = false;
          flow.resumes++;
          drain();
        },
      };
    },
  };
  return {
    body,
    flow,
    /** Delivers a piece now, or when the consumer resumes (as a paused stream keeps it). */
    send: (text: string) => {
      queued.push(new TextEncoder().encode(text));
      drain();
    },
    finish: () => into!.end(),
    abort: () => into!.fail(new Error('aborted')),
  };
}

/** A sink that records what it took, says "full" after `room` pieces until drained. */
function recordingSink(room = Infinity) {
  const state = { written: [] as string[], ended: false, failed: undefined as Error | undefined };
  let resume: (() => void) | undefined;
  let taken = 0;
  const sink: PieceSink = {
    write: (piece) => {
      state.written.push(new TextDecoder().decode(piece));
      return ++taken < room;
    },
    end: () => (state.ended = true),
    fail: (error) => (state.failed = error),
    onDrain: (r) => (resume = r),
    get gone() {
      return state.failed !== undefined;
    },
  };
  return {
    sink,
    state,
    drain: () => {
      taken = 0;
      const r = resume;
      resume = undefined;
      r?.();
    },
  };
}

const settled = async <T>(promise: Promise<T>) => {
  let done = false;
  void promise.then(
    () => (done = true),
    () => (done = true),
  );
  await new Promise((r) => setImmediate(r));
  return done;
};

test('resolves only once the first piece has come, then moves the body, exactly its size, and ends the sink', async () => {
  const hand = handBody();
  const mismatches: BrokerError[] = [];
  const pumped = pushedExactly(hand.body, 11, (e) => mismatches.push(e));
  expect(await settled(pumped)).toBe(false);
  hand.send('hello');
  const pump = await pumped;
  expect(hand.flow.paused).toBe(true);
  const { sink, state } = recordingSink();
  pump(sink);
  hand.send(' world');
  hand.finish();
  expect(state).toEqual({ written: ['hello', ' world'], ended: true, failed: undefined });
  expect(mismatches).toEqual([]);
});

test('a client that goes away before the first piece is refused 400 without an upstream request', async () => {
  const hand = handBody();
  const pumped = pushedExactly(hand.body, 10, () => undefined);
  hand.abort();
  const error = await pumped.catch((e: unknown) => e);
  expect(error).toBeInstanceOf(BrokerError);
  expect(error).toMatchObject({ status: 400, message: expect.stringMatching(/stopped before sending/) });
});

test('a body longer than declared fails the sink, writes nothing past the size and never ends it', async () => {
  const hand = handBody();
  const mismatches: BrokerError[] = [];
  const pumped = pushedExactly(hand.body, 8, (e) => mismatches.push(e));
  hand.send('1234');
  const { sink, state } = recordingSink();
  (await pumped)(sink);
  hand.send('56789');
  hand.send('more');
  hand.finish();
  expect(state.written).toEqual(['1234']);
  expect(state.ended).toBe(false);
  expect(state.failed).toBe(mismatches[0]);
  expect(mismatches[0]!.message).toMatch(/has more than 8 bytes, but Content-Length or x-now-size says 8/);
  expect(hand.flow.paused).toBe(true);
});

test('a first piece already past the size is refused before any upstream request', async () => {
  const hand = handBody();
  const mismatches: BrokerError[] = [];
  const pumped = pushedExactly(hand.body, 3, (e) => mismatches.push(e));
  hand.send('too long');
  await expect(pumped).rejects.toBe(mismatches[0]);
});

test('a body shorter than declared fails the sink at its end', async () => {
  const hand = handBody();
  const mismatches: BrokerError[] = [];
  const pumped = pushedExactly(hand.body, 10, (e) => mismatches.push(e));
  hand.send('short');
  const { sink, state } = recordingSink();
  (await pumped)(sink);
  hand.finish();
  expect(state.ended).toBe(false);
  expect(state.failed).toBe(mismatches[0]);
  expect(mismatches[0]!.message).toMatch(/has 5 bytes/);
});

test('a whole body that ended before the sink came is written and ended when it does', async () => {
  const hand = handBody();
  const pumped = pushedExactly(hand.body, 4, () => undefined);
  hand.send('abcd');
  const pump = await pumped;
  hand.flow.paused = false; // the platform had the end already (a small body read at once)
  hand.finish();
  const { sink, state } = recordingSink();
  pump(sink);
  expect(state).toEqual({ written: ['abcd'], ended: true, failed: undefined });
});

test('a full sink pauses the body until it drains; a client gone mid-body fails the sink', async () => {
  const hand = handBody();
  const pumped = pushedExactly(hand.body, 100, () => undefined);
  hand.send('a');
  const { sink, state, drain } = recordingSink(2);
  (await pumped)(sink);
  hand.send('b'); // the second piece fills the sink
  hand.send('c'); // held by the paused stream
  expect(state.written).toEqual(['a', 'b']);
  expect(hand.flow.paused).toBe(true);
  drain();
  expect(state.written).toEqual(['a', 'b', 'c']);
  hand.abort();
  expect(state.failed).toEqual(new Error('aborted'));
  expect(state.ended).toBe(false);
});

test('once the upstream request is gone, the body is left where it stopped', async () => {
  const hand = handBody();
  const pumped = pushedExactly(hand.body, 100, () => undefined);
  hand.send('a');
  const { sink, state } = recordingSink();
  (await pumped)(sink);
  state.failed = new Error('upstream reset');
  hand.send('b');
  expect(state.written).toEqual(['a']);
  expect(hand.flow.paused).toBe(true);
});
