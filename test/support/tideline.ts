import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startTideline, type RunningTideline } from '../../src/app.factory.js';
import { createScratchDatabase, dropScratchDatabase, withDatabase } from './databases.js';

export type Env = Record<string, string | undefined>;

/** A fresh PGlite data folder, removed by the returned function. */
export function tempDataDir(prefix = 'tideline-test-'): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A server in this process, on an ephemeral port. Pass DATABASE_URL or DATA_DIR in `env`. */
export function startInProcess(env: Env): Promise<RunningTideline> {
  return startTideline({ LOG_LEVEL: 'error', HOST: '127.0.0.1', PORT: '0', ...env });
}

export type ServerProcess = {
  url: string;
  port: number;
  child: ChildProcess;
  output: () => string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code. */
  stop: (graceMs?: number) => Promise<number | null>;
  kill9: () => Promise<void>;
};

/** TIDELINE_MAIN lets a developer point spawned servers at a build of their own (default: `npm run build`'s). */
const MAIN = resolve(process.env.TIDELINE_MAIN ?? 'dist/main.js');

/** A server as its own process (built `dist/main.js`; `npm test` builds first), on an ephemeral port. */
export async function spawnServer(env: Env, { port = '0', timeoutMs = 30_000 } = {}): Promise<ServerProcess> {
  const child = spawn(process.execPath, [MAIN], {
    env: { PATH: process.env.PATH, LOG_LEVEL: 'warn', HOST: '127.0.0.1', PORT: port, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start in ${timeoutMs} ms:\n${output}`)), timeoutMs);
    const onData = () => {
      const match = /tideline: listening on (http:\/\/\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        resolveUrl(match[1]);
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening:\n${output}`));
    });
  });
  const stop = async (graceMs = 10_000) => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    const code = await exited;
    clearTimeout(timer);
    return code;
  };
  const kill9 = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGKILL');
    await exited;
  };
  return { url, port: Number(new URL(url).port), child, output: () => output, stop, kill9 };
}

/**
 * In a describe block: one database for every server a test starts (a scratch PostgreSQL database when
 * DATABASE_URL is set, else a PGlite folder), and every server still running closed afterwards.
 */
export function useServersOnOneDatabase(prefix: string, extraEnv: Env = {}) {
  const fx = { servers: [] as RunningTideline[] } as {
    env: Record<string, string>;
    servers: RunningTideline[];
    start(): Promise<RunningTideline>;
    stop(server: RunningTideline): Promise<void>;
  };
  let remove = () => {};
  let cleanup = async () => {};
  fx.start = async () => {
    const server = await startInProcess({ ...fx.env, ...extraEnv });
    fx.servers.push(server);
    return server;
  };
  fx.stop = async (server) => {
    fx.servers.splice(fx.servers.indexOf(server), 1);
    await server.close();
  };
  beforeAll(async () => {
    const url = process.env.DATABASE_URL;
    if (url) {
      const name = await createScratchDatabase(url);
      cleanup = () => dropScratchDatabase(url, name);
      fx.env = { DATABASE_URL: withDatabase(url, name) };
    } else {
      const dir = tempDataDir(prefix);
      remove = dir.remove;
      fx.env = { DATA_DIR: dir.dir };
    }
  });
  afterAll(async () => {
    for (const server of fx.servers.splice(0)) await server.close().catch(() => undefined);
    await cleanup();
    remove();
  });
  return fx;
}
