import { backends, useEventStore } from '../../../test/support/databases.js';
import type { Database, Row, SqlSession } from '../database/database.js';
import { UnavailableError } from '../errors/domain-errors.js';
import { AppendOutcomeUnknownError, ConcurrencyError, type RecordedEvent } from './event.js';
import { EventStore } from './event-store.js';
import { LogTail } from './log-tail.js';

const ev = (n: number) => ({ type: 'Counted', data: { n } });
/** What the log holds. recordedAt is rounded differently by the paths that build it; no metadata reads back as {}. */
const stored = (events: readonly RecordedEvent[]) => events.map(({ recordedAt: _, metadata, ...rest }) => ({ ...rest, metadata: metadata ?? {} }));

type Call = { sql: string; params: unknown[]; prepareAs?: string };
type Hooks = {
  /** Around each statement sent outside a transaction. */
  query?: (call: Call, run: () => Promise<Row[]>) => Promise<Row[]>;
  /** Around each statement sent inside a transaction. */
  txQuery?: (call: Call, run: () => Promise<Row[]>, tx: SqlSession) => Promise<Row[]>;
  /** Around a whole transaction, its COMMIT included. */
  transaction?: (run: () => Promise<unknown>) => Promise<unknown>;
};

/** Fault injection over the real database: every statement still runs on it, unless a hook fails it. */
function faulty(db: Database, hooks: Hooks): Database {
  const wrapped = Object.create(db) as Database;
  wrapped.query = (<T extends Row>(sql: string, params: unknown[] = [], prepareAs?: string) => {
    const run = () => db.query(sql, params, prepareAs);
    return (hooks.query ? hooks.query({ sql, params, prepareAs }, run) : run()) as Promise<T[]>;
  }) as Database['query'];
  wrapped.transaction = (<T>(work: (tx: SqlSession, opened: Row[][]) => Promise<T>, opening?: string) => {
    const run = () =>
      db.transaction((tx, opened) => {
        const session: SqlSession = {
          query: <R extends Row>(sql: string, params: unknown[] = [], prepareAs?: string) => {
            const go = () => tx.query<R>(sql, params, prepareAs);
            return (hooks.txQuery ? hooks.txQuery({ sql, params, prepareAs }, go, tx) : go()) as Promise<R[]>;
          },
        };
        return work(session, opened);
      }, opening);
    return (hooks.transaction ? hooks.transaction(run) : run()) as Promise<T>;
  }) as Database['transaction'];
  return wrapped;
}

const connectionLost = () => new Error('Connection terminated unexpectedly');
const isAppend = (call: Call) => call.prepareAs?.startsWith('tideline_append') ?? false;

describe.each(backends())('EventStore append outcomes on $name', (backend) => {
  const opened = useEventStore(backend);

  it('an append retried with its idempotency key is a no-op that returns the recorded events', async () => {
    const first = await opened.store.append('k-one', 'no_stream', [ev(1), ev(2)], { idempotencyKey: 'msg-1' });
    // The blind path (same expected version), the reading path ('any'), and after the stream moved on.
    const again = await opened.store.append('k-one', 'no_stream', [ev(1), ev(2)], { idempotencyKey: 'msg-1' });
    const any = await opened.store.append('k-one', 'any', [ev(1), ev(2)], { idempotencyKey: 'msg-1' });
    await opened.store.append('k-one', 2, [ev(3)], { idempotencyKey: 'msg-2' });
    const late = await opened.store.append('k-one', 'no_stream', [ev(1), ev(2)], { idempotencyKey: 'msg-1' });
    for (const retry of [again, any, late]) {
      expect(retry.nextExpectedVersion).toBe(2);
      expect(stored(retry.events)).toEqual(stored(first.events));
    }
    expect((await opened.store.readStream('k-one')).map((e) => e.streamPosition)).toEqual([1, 2, 3]);
    // A position race is not a duplicate: another key at a taken position is a conflict.
    await expect(opened.store.append('k-one', 2, [ev(9)], { idempotencyKey: 'msg-3' })).rejects.toBeInstanceOf(ConcurrencyError);
    await expect(opened.store.append('k-one', 'no_stream', [ev(9)])).rejects.toBeInstanceOf(ConcurrencyError);
  });

  it('appendMany retried with its keys returns every stream’s recorded events, in a batch beside others', async () => {
    const appends = [
      { streamId: 'k-many-a', expected: 'no_stream' as const, events: [ev(1)], idempotencyKey: 'many-1' },
      { streamId: 'k-many-b', expected: 'no_stream' as const, events: [ev(1), ev(2)], idempotencyKey: 'many-1' },
    ];
    const first = await opened.store.appendMany(appends);
    const [retry, beside] = await Promise.all([opened.store.appendMany(appends), opened.store.append('k-many-c', 'no_stream', [ev(1)])]);
    expect(retry.map((r) => stored(r.events))).toEqual(first.map((r) => stored(r.events)));
    expect(beside.nextExpectedVersion).toBe(1);
    expect(await opened.store.streamPosition('k-many-b')).toBe(2);
  });

  it('a blind insert whose connection is lost after it ran resolves with what it recorded', async () => {
    let armed = true;
    const store = new EventStore(
      faulty(opened.db, {
        query: async (call, run) => {
          if (!armed || !isAppend(call)) return run();
          armed = false;
          await run();
          throw connectionLost();
        },
      }),
    );
    const result = await store.append('lost-blind', 'no_stream', [ev(1), ev(2)]);
    expect(armed).toBe(false);
    expect(stored(result.events)).toEqual(stored(await opened.store.readStream('lost-blind')));
    expect(result.nextExpectedVersion).toBe(2);
    await store.drain();
  });

  it('a transaction whose connection is lost at COMMIT, having committed, resolves with what it recorded', async () => {
    let armed = true;
    const store = new EventStore(
      faulty(opened.db, {
        transaction: async (run) => {
          if (!armed) return run();
          armed = false;
          await run();
          throw connectionLost();
        },
      }),
    );
    const result = await store.append('lost-commit', 'any', [ev(1)]);
    expect(armed).toBe(false);
    expect(stored(result.events)).toEqual(stored(await opened.store.readStream('lost-commit')));
    await store.drain();
  });

  it('a write lost before it reached the database rejects with the original error', async () => {
    const lost = connectionLost();
    let armed = true;
    const store = new EventStore(
      faulty(opened.db, {
        query: async (call, run) => {
          if (!armed || !isAppend(call)) return run();
          armed = false;
          throw lost;
        },
      }),
    );
    await expect(store.append('lost-early', 'no_stream', [ev(1)])).rejects.toBe(lost);
    expect(await opened.store.streamPosition('lost-early')).toBe(0);
    await store.drain();
  });

  it('an outcome that cannot be looked up is AppendOutcomeUnknownError, and the own tail then delivers the rows', async () => {
    let down = false;
    const store = new EventStore(
      faulty(opened.db, {
        query: async (call, run) => {
          if (!down) return run();
          if (!isAppend(call)) throw connectionLost();
          await run();
          throw connectionLost();
        },
      }),
      { nodeId: 'unlucky', outcomeLookupMs: 300 },
    );
    const seen: RecordedEvent[] = [];
    const tail = new LogTail(store, (events) => seen.push(...events), { pollMs: 20, pageSize: 100 });
    await tail.start();
    try {
      await store.append('tail-before', 'no_stream', [ev(0)]);
      down = true;
      const error = await store.append('unknown-1', 'no_stream', [ev(1)], { idempotencyKey: 'client-7' }).catch((e: unknown) => e);
      down = false;
      expect(error).toBeInstanceOf(AppendOutcomeUnknownError);
      expect(error).toBeInstanceOf(UnavailableError);
      expect((error as AppendOutcomeUnknownError).idempotencyKeys).toEqual(['client-7']);
      expect(store.nodeId).not.toBe('unlucky');
      const deadline = Date.now() + 10_000;
      while (!seen.some((e) => e.streamId === 'unknown-1') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(seen.filter((e) => e.streamId === 'unknown-1').map((e) => e.streamPosition)).toEqual([1]);
      // The retry the caller may now make with the key it was given is no duplicate.
      const retry = await store.append('unknown-1', 'no_stream', [ev(1)], { idempotencyKey: 'client-7' });
      expect(retry.events.map((e) => e.streamPosition)).toEqual([1]);
    } finally {
      await tail.stop();
      await store.drain();
    }
  });

  it('a position race lost on every retry reaches the caller as ConcurrencyError, not a raw unique violation', async () => {
    // Before each insert, "another writer" takes the first position it wants (rolled back with it).
    const store = new EventStore(
      faulty(opened.db, {
        txQuery: async (call, run, tx) => {
          if (!isAppend(call)) return run();
          const [stream] = JSON.parse(call.params[1] as string) as string[];
          const [position] = JSON.parse(call.params[2] as string) as number[];
          await tx.query(`INSERT INTO events (stream_id, stream_position, type, data) VALUES ($1, $2, 'Racer', '{}')`, [stream, position]);
          return run();
        },
      }),
    );
    await expect(store.append('raced', 'any', [ev(1)])).rejects.toMatchObject({ name: 'ConcurrencyError', streamId: 'raced' });
    expect(await opened.store.streamPosition('raced')).toBe(0);
    await store.drain();
  });
});
