import { Cleanup, createRoom, eventually, RoomClient, socketUrl, spawnTracked, troubleIn, type Msg } from './fault-helpers.js';
import { CuttableProxy, restartableDatabase, type RestartableDatabase } from './private-postgres.js';
import type { ServerProcess } from '../support/tideline.js';

/**
 * PostgreSQL goes away under load and comes back. Runs against a private cluster (never the machine's
 * shared PostgreSQL, which others use): the servers must reconnect by themselves, every push must get an
 * answer (broadcast or error) or see its socket close, nothing acknowledged may be lost, and /health
 * must say 503 while the database is down and 200 once it is back.
 */

const SHARED_URL = process.env.DATABASE_URL;
const ANSWER_DEADLINE_MS = 15_000; // a push with no broadcast, no error and no close by then is a hang (a restart)
const PUSHERS_PER_ROOM = 3;

type Outcome = 'acked' | 'error' | 'closed' | 'hang';

/** Pushes appends one at a time, so every answer belongs to the push before it; reconnects after a close. */
class Pusher {
  readonly acked: { key: string; n: number; seq: number; phase: string }[] = [];
  /** The numbers of the pushes whose outcome is unknown (an error, a close or a hang): stored or not. */
  readonly unknown: number[] = [];
  readonly outcomes = new Map<Outcome, number>();
  readonly byPhase = new Map<string, Map<Outcome, number>>();
  readonly errors: string[] = [];
  readonly hangs: string[] = [];
  phase = 'before';
  private stopped = false;
  private done?: Promise<void>;

  constructor(
    private readonly server: () => ServerProcess,
    private readonly room: string,
    readonly key: string,
    private readonly cleanup: Cleanup,
    private readonly deadlineMs = ANSWER_DEADLINE_MS,
  ) {}

  start(): void {
    this.done = this.loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }

  /** Pushes answered (or given up on) so far, whatever the outcome. */
  get total(): number {
    return [...this.outcomes.values()].reduce((a, b) => a + b, 0);
  }

  /**
   * Checks a history of this pusher's key against what the pusher was told (beyond every acknowledged push
   * being there): each push is there at most once, and only pushes that were acknowledged or whose outcome
   * is unknown (their commit may have gone through unseen) are there.
   */
  checkHistory(history: { value: unknown }[]): void {
    // Each push sent got exactly one outcome.
    const ackedNs = this.acked.map((ack) => ack.n);
    expect([...ackedNs, ...this.unknown].sort((x, y) => x - y)).toEqual([...Array(this.total).keys()]);
    const ns = history.map((e) => (e.value as { n: number }).n);
    expect(new Set(ns).size).toBe(ns.length);
    const accounted = new Set([...ackedNs, ...this.unknown]);
    expect(ns.filter((n) => !accounted.has(n))).toEqual([]);
  }

  count(outcome: Outcome, phase = this.phase): number {
    return this.byPhase.get(phase)?.get(outcome) ?? 0;
  }

  private note(outcome: Outcome, phase: string, n: number): void {
    if (outcome !== 'acked') this.unknown.push(n);
    this.outcomes.set(outcome, (this.outcomes.get(outcome) ?? 0) + 1);
    const counts = this.byPhase.get(phase) ?? new Map<Outcome, number>();
    counts.set(outcome, (counts.get(outcome) ?? 0) + 1);
    this.byPhase.set(phase, counts);
  }

  private async loop(): Promise<void> {
    let n = 0;
    let client: RoomClient | undefined;
    while (!this.stopped) {
      if (!client?.open) {
        try {
          client = await RoomClient.open(socketUrl(this.server().url, this.room), { cleanup: this.cleanup });
        } catch {
          // Refused while the database is down (the room cannot be checked): try again shortly.
          await new Promise((r) => setTimeout(r, 100));
          continue;
        }
      }
      const phase = this.phase;
      const value = { key: this.key, n };
      const answer = client.waitFor(
        (m: Msg) => m.type === 'error' || (m.type === 'push' && m.key === this.key && m.value?.n === n),
        this.deadlineMs,
        `an answer to push ${this.key}#${n}`,
      );
      client.send({ type: 'push', key: this.key, value, action: { type: 'append' } });
      try {
        const reply = await answer;
        if (reply.type === 'push') {
          this.acked.push({ key: this.key, n, seq: reply.seq, phase });
          this.note('acked', phase, n);
        } else {
          this.note('error', phase, n);
          if (this.errors.length < 5) this.errors.push(`${phase}: ${reply.message}`);
          await new Promise((r) => setTimeout(r, 20)); // pacing only, so a failing database is not hammered
        }
      } catch (error) {
        if (client.open) {
          this.note('hang', phase, n);
          this.hangs.push(`${this.key}#${n} (${phase}): ${(error as Error).message}`);
          client.terminate();
        } else this.note('closed', phase, n);
      }
      n++;
    }
    client?.terminate();
  }
}

(SHARED_URL ? describe : describe.skip)('database restart under load', () => {
  const cleanup = new Cleanup();
  afterEach(() => cleanup.run());

  it('reconnects by itself, answers every push, loses nothing acknowledged, and reports 503 then 200', async () => {
    const db: RestartableDatabase = await restartableDatabase(cleanup, SHARED_URL!);
    const env = { DATABASE_URL: db.url, LOG_LEVEL: 'warn' };
    const a = await spawnTracked(cleanup, env);
    const b = await spawnTracked(cleanup, env); // a second server on the same database: its log tail must come back too
    const rooms = [(await createRoom(a.url)).room, (await createRoom(a.url)).room];

    // On server B, a listener hears what server A's clients push (through the shared log and NOTIFY).
    const heardOnB: Msg[] = [];
    const listenerB = await RoomClient.open(socketUrl(b.url, rooms[0]), { cleanup });
    listenerB.on((m) => m.type === 'push' && heardOnB.push(m));

    const pushers = rooms.flatMap((room, r) =>
      Array.from({ length: PUSHERS_PER_ROOM }, (_, p) => new Pusher(() => a, room, `k${r}-${p}`, cleanup)),
    );
    const setPhase = (phase: string) => pushers.forEach((p) => (p.phase = phase));

    // /health of server A, polled throughout; a request that gets no answer in 5 s is a hang.
    const health: { phase: string; status: number | 'hang' | 'refused' }[] = [];
    let phase = 'before';
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const at = phase;
        try {
          const response = await fetch(`${a.url}/health`, { signal: AbortSignal.timeout(5000) });
          await response.arrayBuffer();
          health.push({ phase: at, status: response.status });
        } catch (error) {
          health.push({ phase: at, status: (error as Error).name === 'TimeoutError' ? 'hang' : 'refused' });
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    cleanup.add(async () => {
      polling = false;
      await poller;
    });
    const sawHealth = (p: string, status: number) => health.some((h) => h.phase === p && h.status === status);

    pushers.forEach((p) => p.start());
    cleanup.add(() => Promise.all(pushers.map((p) => p.stop())));
    await eventually(() => (pushers.every((p) => p.count('acked') >= 30) ? true : undefined), 30_000, 'acknowledged pushes before the restart');
    expect(sawHealth('before', 200)).toBe(true);

    // Down: PostgreSQL stops (fast shutdown ends every session). Pushes must fail fast, /health must say 503.
    phase = 'down';
    setPhase('down');
    await db.stop();
    await eventually(() => (sawHealth('down', 503) ? true : undefined), 20_000, '/health answering 503 while the database is down');
    await eventually(
      () => (pushers.every((p) => p.count('error', 'down') + p.count('closed', 'down') >= 3) ? true : undefined),
      30_000,
      'every pusher told of failures while the database is down',
    );

    // Up again: nobody restarts the servers; they must find the database by themselves.
    phase = 'starting';
    setPhase('starting');
    await db.start();
    phase = 'after';
    setPhase('after');
    await eventually(() => (health.some((h) => h.phase === 'after' && h.status === 200) ? true : undefined), 30_000, '/health back to 200');
    await eventually(() => (pushers.every((p) => p.count('acked', 'after') >= 30) ? true : undefined), 30_000, 'acknowledged pushes after the restart');

    // Relays cross to server B again (its NOTIFY listener reconnected), and appends reach it through the log.
    const relayer = await RoomClient.open(socketUrl(a.url, rooms[0]), { cleanup });
    let relays = 0;
    await eventually(
      () => {
        relayer.send({ type: 'push', key: 'relay-after', value: { r: relays++ }, action: { type: 'relay' } });
        return heardOnB.some((m) => m.key === 'relay-after') ? true : undefined;
      },
      30_000,
      'a relay from server A heard on server B after the restart',
      200,
    );
    const lastAfter = pushers.find((p) => p.key.startsWith('k0-'))!.acked.at(-1)!;
    await eventually(
      () => (heardOnB.some((m) => m.key === lastAfter.key && m.value?.n === lastAfter.n) ? true : undefined),
      30_000,
      'an append made on server A after the restart heard on server B',
    );

    await Promise.all(pushers.map((p) => p.stop()));
    polling = false;
    await poller;

    // Never a hang: every push got its broadcast or an error, or saw its socket close; /health always answered.
    expect(pushers.flatMap((p) => p.hangs)).toEqual([]);
    expect(health.filter((h) => h.status === 'hang')).toEqual([]);
    expect(health.filter((h) => h.phase === 'before' && h.status !== 200)).toEqual([]);

    // Nothing acknowledged is lost: every broadcast append is in the history, in order, under its seq.
    const reader = await RoomClient.open(socketUrl(a.url, rooms[0]), { cleanup });
    const reader2 = await RoomClient.open(socketUrl(a.url, rooms[1]), { cleanup });
    for (const pusher of pushers) {
      const history = await (pusher.key.startsWith('k0-') ? reader : reader2).get(pusher.key);
      const seqs = history.map((e) => e.seq);
      expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
      const stored = new Map(history.map((e) => [(e.value as { n: number }).n, e.seq]));
      const lost = pusher.acked.filter((ack) => stored.get(ack.n) !== ack.seq);
      expect(lost).toEqual([]);
      // What is there beyond the acknowledged pushes can only be pushes whose outcome is unknown (an error, a
      // close or a hang: their commit may have gone through unseen), each once, and the pushes of one client
      // stay in the order it sent them.
      const ns = history.map((e) => (e.value as { n: number }).n);
      expect(ns).toEqual([...ns].sort((x, y) => x - y));
      pusher.checkHistory(history);
    }

    const report = pushers.map((p) => `${p.key}: ${[...p.byPhase].map(([ph, c]) => `${ph} ${[...c].map(([o, k]) => `${o}=${k}`).join(',')}`).join(' | ')}`);
    // eslint-disable-next-line no-console
    console.log(`database restart via ${db.kind}\n${report.join('\n')}\nerrors seen: ${[...new Set(pushers.flatMap((p) => p.errors))].slice(0, 5).join(' / ')}`);

    // Both servers stayed up, and nothing escaped unhandled into their logs. (Terminus logs each failed
    // health check at ERROR level by design: that line is the expected report of a down database.)
    for (const server of [a, b]) {
      expect(server.child.exitCode).toBeNull();
      expect(troubleIn(server.output()).filter((line) => !/ERROR Health Check has failed!/.test(line))).toEqual([]);
    }
  }, 120_000);

  it('answers every push (error or close) while the database stops answering without going away, and recovers', async () => {
    // A network partition rather than a restart: connections stay open, nothing comes back. Only a proxy of
    // our own can do that (in front of a scratch database on the shared PostgreSQL, which is left alone).
    const proxy = await CuttableProxy.create(cleanup, SHARED_URL!);
    const server = await spawnTracked(cleanup, { DATABASE_URL: proxy.url, LOG_LEVEL: 'warn' });
    const { room } = await createRoom(server.url);
    // The server's own connection timeout is 5 s: an answer may take that long, not twice as long.
    const deadline = 10_000;
    const pushers = [0, 1].map((p) => new Pusher(() => server, room, `f${p}`, cleanup, deadline));
    pushers.forEach((p) => p.start());
    cleanup.add(() => Promise.all(pushers.map((p) => p.stop())));
    await eventually(() => (pushers.every((p) => p.count('acked') >= 20) ? true : undefined), 30_000, 'acknowledged pushes before the freeze');

    pushers.forEach((p) => (p.phase = 'frozen'));
    proxy.freeze();
    const health = await fetch(`${server.url}/health`, { signal: AbortSignal.timeout(10_000) }).then(
      (r) => r.status,
      (e: Error) => e.name,
    );
    // Each pusher's push in flight, and the one after it, must be answered (or its socket closed) within the deadline.
    const before = pushers.map((p) => p.total);
    await eventually(
      () => (pushers.every((p, i) => p.total >= before[i] + 2) ? true : undefined),
      2 * deadline + 10_000,
      'two more outcomes for each pusher while the database is frozen',
    );
    pushers.forEach((p) => (p.phase = 'thawed'));
    proxy.thaw();
    await eventually(() => (pushers.every((p) => p.count('acked', 'thawed') >= 10) ? true : undefined), 30_000, 'acknowledged pushes after the thaw');
    await Promise.all(pushers.map((p) => p.stop()));

    expect(health).toBe(503);
    expect(pushers.flatMap((p) => p.hangs)).toEqual([]);
    const reader = await RoomClient.open(socketUrl(server.url, room), { cleanup });
    for (const pusher of pushers) {
      const history = await reader.get(pusher.key);
      const stored = new Map(history.map((e) => [(e.value as { n: number }).n, e.seq]));
      expect(pusher.acked.filter((ack) => stored.get(ack.n) !== ack.seq)).toEqual([]);
      pusher.checkHistory(history);
    }
    expect(server.child.exitCode).toBeNull();
  }, 90_000);
});
