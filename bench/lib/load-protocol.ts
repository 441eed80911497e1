/**
 * How the orchestrator talks to load processes (over the fork IPC channel):
 *   parent → {kind:'config', config}      child sets up (connects sockets, opens pools)
 *   child  → {kind:'ready', info}
 *   parent → {kind:'start', window}       child runs; counts only what falls inside the window
 *   child  → {kind:'result', result}
 *   parent → {kind:'stop'}                child closes everything and exits
 * A child that loses its parent (IPC disconnect) exits at once.
 */
export type Window = {
  /** Shared monotonic clock (see clock.ts), milliseconds. Load may start at once; counting starts here. */
  startMs: number;
  endMs: number;
};

export type ToChild = { kind: 'config'; config: unknown } | { kind: 'start'; window: Window } | { kind: 'stop' };
export type FromChild =
  | { kind: 'ready'; info?: unknown }
  | { kind: 'result'; result: unknown }
  | { kind: 'error'; message: string }
  | { kind: 'log'; message: string };

export interface LoadSession<R> {
  run(window: Window): Promise<R>;
  close(): Promise<void>;
}

/** The child side: call once at the top of a load script. */
export function runLoadChild<C, R>(setup: (config: C) => Promise<LoadSession<R> & { info?: unknown }>): void {
  if (!process.send) {
    console.error('this is a bench load process; the orchestrator (bench/run.ts) starts it');
    process.exit(2);
  }
  const send = (m: FromChild) => process.send!(m);
  let session: (LoadSession<R> & { info?: unknown }) | undefined;
  const fail = (error: unknown) => {
    send({ kind: 'error', message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  };
  process.on('disconnect', () => process.exit(1));
  process.on('uncaughtException', (e) => {
    fail(e);
    setTimeout(() => process.exit(1), 100);
  });
  process.on('message', (msg: ToChild) => {
    if (msg.kind === 'config') {
      setup(msg.config as C).then(
        (s) => {
          session = s;
          send({ kind: 'ready', info: s.info });
        },
        fail,
      );
    } else if (msg.kind === 'start') {
      if (!session) return fail(new Error('start before ready'));
      session.run(msg.window).then((result) => send({ kind: 'result', result }), fail);
    } else if (msg.kind === 'stop') {
      const done = () => process.exit(0);
      (session ? session.close() : Promise.resolve()).then(done, done);
      setTimeout(done, 3000).unref();
    }
  });
}

export function log(message: string): void {
  process.send?.({ kind: 'log', message } satisfies FromChild);
}
