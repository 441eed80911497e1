import { canonical, Cleanup, createRoom, eventually, RoomClient, serverBackends, socketUrl, spawnTracked, type Msg } from './fault-helpers.js';
import type { ServerProcess } from '../support/tideline.js';

/**
 * kill -9 in the middle of a write load, twice, restarting on the same database each time.
 * What a client was told (a broadcast) must survive, and numbering must never go back.
 */

type Value = { c: string; n: number; kind: 'append' | 'relay'; pad: string };
type Seen = { key: string; value: Value; round: number };

const KEYS = ['alpha', 'beta', 'gamma'];
const PUSHERS_PER_ROOM = 3;
const BURST = 8;
const ROUNDS = 2; // crashes; a last round after them only checks

describe.each(serverBackends())('crash (kill -9) mid-load on $name', (backend) => {
  const cleanup = new Cleanup();
  afterEach(() => cleanup.run());

  it('keeps every broadcast append, in order, and never issues a seq at or below one seen before the crash', async () => {
    const env = { ...(await backend.prepare(cleanup)), LOG_LEVEL: 'warn' };
    let server: ServerProcess = await spawnTracked(cleanup, env);
    const rooms = [(await createRoom(server.url)).room, (await createRoom(server.url)).room];

    // Per room: every push broadcast anyone received, by seq (a seq must always carry the same message).
    const seen = rooms.map(() => new Map<number, Seen>());
    // Per room: the highest seq seen in each round.
    const maxSeqByRound = rooms.map(() => [] as number[]);
    const sent = new Map<string, Value>(); // `${c}/${n}` → value, recorded before sending
    const conflicts: string[] = []; // one seq broadcast with two different messages

    const record = (roomIndex: number, round: number) => (m: Msg) => {
      if (m.type !== 'push') return;
      const entry = seen[roomIndex].get(m.seq);
      if (entry) {
        if (entry.key !== m.key || canonical(entry.value) !== canonical(m.value)) {
          conflicts.push(`room ${roomIndex} seq ${m.seq}: ${JSON.stringify(entry)} and ${JSON.stringify(m)}`);
        }
        return;
      }
      seen[roomIndex].set(m.seq, { key: m.key, value: m.value, round });
      maxSeqByRound[roomIndex][round] = Math.max(maxSeqByRound[roomIndex][round] ?? 0, m.seq);
    };

    for (let round = 0; round <= ROUNDS; round++) {
      if (round > 0) server = await spawnTracked(cleanup, env);
      const last = round === ROUNDS;

      // One listener per room that only listens (and records everything it is told).
      const listeners = await Promise.all(
        rooms.map(async (room, r) => {
          const listener = await RoomClient.open(socketUrl(server.url, room), { cleanup });
          listener.on(record(r, round));
          return listener;
        }),
      );

      // Pushers: bursts of appends with a relay every fourth push, paced by a ping round trip.
      let stopPushing = false;
      const pusherRuns: Promise<number>[] = [];
      rooms.forEach((room, r) => {
        for (let p = 0; p < PUSHERS_PER_ROOM; p++) {
          const c = `r${round}-room${r}-p${p}`;
          pusherRuns.push(
            (async () => {
              const client = await RoomClient.open(socketUrl(server.url, room), { cbor: p === PUSHERS_PER_ROOM - 1, cleanup });
              client.on(record(r, round));
              let n = 0;
              try {
                while (!stopPushing && client.open) {
                  for (let i = 0; i < BURST; i++, n++) {
                    const value: Value = { c, n, kind: n % 4 === 3 ? 'relay' : 'append', pad: 'x'.repeat(n % 200) };
                    sent.set(`${c}/${n}`, value);
                    client.send({ type: 'push', key: KEYS[(n + p) % KEYS.length], value, action: { type: value.kind } });
                  }
                  await client.sync();
                }
              } catch (error) {
                // The kill closes the socket under a pending ping: that is the expected way out.
                if (client.open) throw error;
              } finally {
                client.terminate();
              }
              return n;
            })(),
          );
        }
      });

      if (!last) {
        // Crash once each room's listener has heard a few hundred broadcasts of this round, with pushes in flight.
        const base = listeners.map((l) => l.received);
        await eventually(() => (listeners.every((l, i) => l.received - base[i] >= 300) ? true : undefined), 30_000, 'load before the kill', 20);
        await server.kill9();
        await Promise.all(pusherRuns);
        listeners.forEach((l) => l.terminate());
        for (let r = 0; r < rooms.length; r++) expect(maxSeqByRound[r][round]).toBeGreaterThan(0);
        continue;
      }

      // Last round (after the crashes): push a while, then stop and check.
      const base = listeners.map((l) => l.received);
      await eventually(() => (listeners.every((l, i) => l.received - base[i] >= 200) ? true : undefined), 30_000, 'load after the restarts', 20);
      stopPushing = true;
      await Promise.all(pusherRuns);

      for (let r = 0; r < rooms.length; r++) {
        // Numbering never goes back: every seq issued in a round is above every seq seen in earlier rounds.
        for (let later = 1; later <= ROUNDS; later++) {
          const before = Math.max(...maxSeqByRound[r].slice(0, later));
          const issuedLater = [...seen[r]].filter(([, s]) => s.round >= later).map(([seq]) => seq);
          expect(issuedLater.length).toBeGreaterThan(0);
          expect(Math.min(...issuedLater)).toBeGreaterThan(before);
        }

        for (const key of KEYS) {
          const history = await listeners[r].get(key);
          const seqs = history.map((e) => e.seq);
          // In order, no duplicates.
          expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
          expect(new Set(seqs).size).toBe(seqs.length);
          const bySeq = new Map(history.map((e) => [e.seq, e.value as Value]));

          // Every append broadcast (in any round) is there, under its seq, with its value.
          const acknowledged = [...seen[r]].filter(([, s]) => s.key === key && s.value.kind === 'append');
          expect(acknowledged.length).toBeGreaterThan(0);
          const missing = acknowledged.filter(([seq, s]) => canonical(bySeq.get(seq)) !== canonical(s.value));
          expect(missing.map(([seq, s]) => ({ seq, value: s.value, stored: bySeq.get(seq) ?? null }))).toEqual([]);

          // Nothing else is there but appends that were really sent (committed, maybe never acknowledged).
          for (const { value } of history) {
            expect((value as Value).kind).toBe('append');
            expect(sent.get(`${(value as Value).c}/${(value as Value).n}`)).toEqual(value);
          }

          // Each pusher's appends keep the order it sent them in, and each is there once (a push is never stored twice).
          const byPusher = new Map<string, number[]>();
          for (const { value } of history) byPusher.set((value as Value).c, [...(byPusher.get((value as Value).c) ?? []), (value as Value).n]);
          for (const ns of byPusher.values()) {
            expect(ns).toEqual([...ns].sort((a, b) => a - b));
            expect(new Set(ns).size).toBe(ns.length);
          }
        }
      }
      listeners.forEach((l) => l.terminate());
    }

    expect(conflicts).toEqual([]);
    await server.stop();
  }, 90_000);
});
