import type { ChildProcess } from 'node:child_process';
import { forkTs } from './children.js';
import type { FromChild, ToChild, Window } from './load-protocol.js';

/** The parent side of one load process (see load-protocol.ts). */
export class LoadProcess<R = unknown> {
  private readonly child: ChildProcess;
  private readonly inbox: FromChild[] = [];
  private waiter?: () => void;
  private exited = false;
  private exitReason = '';

  constructor(
    readonly label: string,
    script: string,
    private readonly verbose = false,
  ) {
    this.child = forkTs(script, [label]);
    this.child.on('message', (m: FromChild) => {
      if (m.kind === 'log') {
        if (this.verbose) console.log(`  [${this.label}] ${m.message}`);
        return;
      }
      this.inbox.push(m);
      this.waiter?.();
    });
    this.child.on('error', (e) => {
      this.exitReason = `failed (${e.message})`;
      this.waiter?.();
    });
    this.child.on('exit', (code, signal) => {
      this.exited = true;
      this.exitReason = `exited (${signal ?? code})`;
      this.waiter?.();
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  private send(message: ToChild): void {
    if (this.child.connected) this.child.send(message, (e) => e && this.child.kill('SIGKILL'));
    else this.child.kill('SIGKILL');
  }

  private async next(kind: 'ready' | 'result', timeoutMs: number): Promise<unknown> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.inbox.findIndex((m) => m.kind === kind || m.kind === 'error');
      if (i >= 0) {
        const [m] = this.inbox.splice(i, 1);
        if (m.kind === 'error') throw new Error(`${this.label}: ${m.message}`);
        return m.kind === 'ready' ? m.info : (m as { result: unknown }).result;
      }
      if (this.exited) throw new Error(`${this.label} ${this.exitReason} before '${kind}'`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.label}: no '${kind}' within ${Math.round(timeoutMs / 1000)} s`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(t);
          this.waiter = undefined;
          resolve();
        };
      });
    }
  }

  /** Sends the config and waits for set-up to finish. */
  async setup<I = unknown>(config: unknown, timeoutMs = 60_000): Promise<I> {
    this.send({ kind: 'config', config });
    return (await this.next('ready', timeoutMs)) as I;
  }

  start(window: Window): void {
    this.send({ kind: 'start', window });
  }

  async result(timeoutMs: number): Promise<R> {
    return (await this.next('result', timeoutMs)) as R;
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    await new Promise<void>((resolve) => {
      const kill = setTimeout(() => this.child.kill('SIGKILL'), 5000);
      this.child.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      this.send({ kind: 'stop' });
    });
  }
}

/** Runs a group of load processes: all set up, all started on one window, all results collected, all stopped. */
export async function withLoad<T>(procs: LoadProcess[], body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } finally {
    await Promise.all(procs.map((p) => p.stop().catch(() => undefined)));
  }
}
