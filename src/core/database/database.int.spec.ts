import { Cleanup } from '../../../test/faults/fault-helpers.js';
import { CuttableProxy } from '../../../test/faults/private-postgres.js';
import { Database, DatabaseUnavailableError } from './database.js';

const SHARED_URL = process.env.DATABASE_URL;

/** Settles with the time it took and what it ended with. */
async function timed<T>(work: Promise<T>): Promise<{ ms: number; outcome: T | Error }> {
  const started = Date.now();
  const outcome = await work.catch((error: Error) => error);
  return { ms: Date.now() - started, outcome };
}

(SHARED_URL ? describe : describe.skip)('database circuit breaker (PostgreSQL behind a proxy that freezes)', () => {
  const cleanup = new Cleanup();
  afterAll(() => cleanup.run());

  it('refuses at once while a probe is out, lets one statement through after a pause, and closes on its answer', async () => {
    const proxy = await CuttableProxy.create(cleanup, SHARED_URL!);
    const db = await Database.open({ kind: 'postgres', url: proxy.url, queryTimeoutMs: 400 });
    cleanup.add(() => db.close());
    expect(await db.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);

    proxy.freeze();
    const first = await timed(db.query('SELECT 1'));
    expect(first.outcome).toBeInstanceOf(Error);
    expect(first.outcome).not.toBeInstanceOf(DatabaseUnavailableError); // it waited out its own timeout
    const refused = await timed(db.query('SELECT 1'));
    expect(refused.outcome).toBeInstanceOf(DatabaseUnavailableError);
    expect(refused.ms).toBeLessThan(50);

    await new Promise((r) => setTimeout(r, 1100));
    const probe = db.query('SELECT 2 AS two'); // let through: the circuit has rested a second
    const meanwhile = await timed(db.query('SELECT 3'));
    expect(meanwhile.outcome).toBeInstanceOf(DatabaseUnavailableError); // one probe at a time
    proxy.thaw();
    // The probe may still time out on its frozen connection; then the next one, a second later, gets through.
    const answered = async (): Promise<unknown> => {
      for (let i = 0; i < 20; i++) {
        const result = await db.query('SELECT 4 AS four').catch((error: Error) => error);
        if (!(result instanceof Error)) return result;
        await new Promise((r) => setTimeout(r, 200));
      }
      return undefined;
    };
    await probe.catch(() => undefined);
    expect(await answered()).toEqual([{ four: 4 }]);
    expect(await db.query('SELECT 5 AS five')).toEqual([{ five: 5 }]); // closed: no refusals any more
  }, 30_000);
});
