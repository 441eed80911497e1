import { fork, spawn, type ChildProcess, type ForkOptions, type SpawnOptions } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';

/** Repository root (bench/lib/ → ../..). */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * Every process the bench starts is registered here, so that nothing outlives the run: on normal exit,
 * on an uncaught error, and on Ctrl-C each still-running child gets SIGKILL.
 */
const live = new Set<ChildProcess>();
const cleanups: (() => Promise<void>)[] = [];
let exiting = false;

export function track(child: ChildProcess): ChildProcess {
  live.add(child);
  child.on('error', () => undefined); // spawn failures surface through 'exit' / the callers' own handlers
  child.once('exit', () => live.delete(child));
  return child;
}

export function spawnTracked(cmd: string, args: string[], options: SpawnOptions): ChildProcess {
  return track(spawn(cmd, args, { cwd: ROOT, ...options }));
}

/** Forks a TypeScript module under tsx with an IPC channel. */
export function forkTs(script: string, args: string[] = [], options: ForkOptions = {}): ChildProcess {
  return track(
    fork(resolve(ROOT, script), args, {
      cwd: ROOT,
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      ...options,
    }),
  );
}

/** True once a signal asked the bench to stop (the signal handler then exits the process itself). */
export function isExiting(): boolean {
  return exiting;
}

export function liveChildren(): number {
  return live.size;
}

export function killAllNow(): void {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
  live.clear();
}

/** Asynchronous cleanups (dropping scratch databases) run on Ctrl-C / SIGTERM and by `runCleanups`. */
export function onCleanup(fn: () => Promise<void>): void {
  cleanups.push(fn);
}

export async function runCleanups(): Promise<void> {
  killAllNow();
  for (const fn of cleanups.splice(0).reverse()) {
    try {
      await fn();
    } catch (error) {
      console.error(`bench: cleanup failed: ${(error as Error).message}`);
    }
  }
}

export function installExitHandlers(): void {
  process.on('exit', killAllNow);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      if (exiting) return;
      exiting = true;
      console.error(`\nbench: ${signal}, stopping children and dropping scratch databases…`);
      void runCleanups().finally(() => process.exit(130));
    });
  }
}

/** Sends SIGTERM, then SIGKILL after `graceMs`; resolves when the process has exited. */
export function stopProcess(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolveStop) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolveStop();
    });
    child.kill('SIGTERM');
  });
}
