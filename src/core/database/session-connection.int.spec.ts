import { Database } from './database.js';

const SHARED_URL = process.env.DATABASE_URL;

async function eventually(check: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

(SHARED_URL ? describe : describe.skip)('session connection (locks and LISTEN on one connection, PostgreSQL)', () => {
  let db: Database;
  let other: Database;

  beforeAll(async () => {
    db = await Database.open({ kind: 'postgres', url: SHARED_URL!, poolSize: 3 });
    other = await Database.open({ kind: 'postgres', url: SHARED_URL!, poolSize: 3 });
  });
  afterAll(async () => {
    await db?.close();
    await other?.close();
  });

  it('holds many locks and listeners without taking the pool: statements still run on a pool of three', async () => {
    const prefix = `session-spec:${process.pid}:${Date.now()}`;
    const locks = await Promise.all(Array.from({ length: 8 }, (_, i) => db.tryLock(`${prefix}:${i}`)));
    const heard: string[] = [];
    const unlisten = ['session_spec_a', 'session_spec_b', 'session_spec_c'].map((channel) => db.listen(channel, (p) => heard.push(`${channel}:${p}`)));
    expect(locks.every(Boolean)).toBe(true);

    const [{ n }] = await other.query<{ n: number }>(
      `SELECT count(DISTINCT pid)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND granted AND objid = ANY($1::oid[])`,
      [await lockObjids(other, Array.from({ length: 8 }, (_, i) => `${prefix}:${i}`))],
    );
    expect(n).toBe(1); // every lock on the one session connection
    expect(await Promise.all([1, 2, 3, 4].map((i) => db.query<{ i: number }>(`SELECT $1::int AS i`, [i])))).toEqual([1, 2, 3, 4].map((i) => [{ i }]));

    expect(await other.tryLock(`${prefix}:0`)).toBeUndefined(); // held by db's session
    expect(await db.tryLock(`${prefix}:0`)).toBeUndefined(); // and not handed out twice in one process
    await locks[0]!.release();
    await locks[0]!.released;
    const taken = await other.tryLock(`${prefix}:0`);
    expect(taken).toBeDefined();
    await taken!.release();

    await eventually(async () => {
      await other.query(`SELECT pg_notify('session_spec_b', 'hello')`);
      return heard.includes('session_spec_b:hello');
    });
    await Promise.all(unlisten.map((stop) => stop()));
    await Promise.all(locks.slice(1).map((lock) => lock!.release()));
  });

  it('when its connection is killed: every lock is freed and told, and listening resumes on a new one', async () => {
    const name = `session-spec-kill:${process.pid}:${Date.now()}`;
    const lock = await db.tryLock(name);
    expect(lock).toBeDefined();
    const heard: string[] = [];
    const stop = db.listen('session_spec_kill', (p) => heard.push(p));
    await eventually(async () => {
      await other.query(`SELECT pg_notify('session_spec_kill', 'before')`);
      return heard.includes('before');
    });
    const [holder] = await other.query<{ pid: number }>(
      `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objid = ANY($1::oid[])`,
      [await lockObjids(other, [name])],
    );
    await other.query(`SELECT pg_terminate_backend($1)`, [holder.pid]);

    await lock!.released; // told
    // A lock taken at once opens the new connection before the reconnect timer does: it must listen too.
    const again = await db.tryLock(`${name}:again`);
    expect(again).toBeDefined();
    const taken = await other.tryLock(name); // and PostgreSQL freed it
    expect(taken).toBeDefined();
    await taken!.release();
    await eventually(async () => {
      await other.query(`SELECT pg_notify('session_spec_kill', 'after')`);
      return heard.includes('after');
    }, 3000);
    await again!.release();
    await stop();
  }, 20_000);
});

/** The low 32 bits of each lock's key, as pg_locks shows them in `objid`. */
async function lockObjids(db: Database, names: string[]): Promise<number[]> {
  const rows = await db.query<{ objid: string }>(
    `SELECT (hashtextextended(name, 0) & 4294967295)::oid::text AS objid FROM unnest($1::text[]) AS name`,
    [names],
  );
  return rows.map((r) => Number(r.objid));
}
