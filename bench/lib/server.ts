import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, relative, resolve } from 'node:path';
import { ROOT, spawnTracked, stopProcess } from './children.js';
import { rssKb } from './proc.js';

export type Backend = { kind: 'postgres'; url: string } | { kind: 'pglite'; dataDir: string } | { kind: 'none' };

export type ServerKind = 'tideline' | 'bare-ws';

export interface ServerHandle {
  kind: ServerKind;
  pid: number;
  port: number;
  /** http://127.0.0.1:<port> */
  httpUrl: string;
  /** ws://127.0.0.1:<port> */
  wsUrl: string;
  /** spawn → listening line, ms */
  startMs: number;
  rssKb(): number;
  stop(): Promise<void>;
  /** Last lines the server printed on stderr (for error reports). */
  stderrTail(): string;
}

export class ServerStartError extends Error {}

/** The command that runs Tideline: `node <dist>/main.js`, or a stand-in given with --tideline-cmd. */
export function tidelineCommand(distDir: string, override?: string): string[] {
  if (override) return override.split(/\s+/).filter(Boolean);
  return [process.execPath, resolve(distDir, 'main.js')];
}

const bareCompiled = new Map<string, string>();

/**
 * The bare ws peer runs as plain JavaScript, not under tsx: tsx's loader thread would add ~30 MB to the
 * RSS the memory row compares. It is transpiled (types stripped) into bench/.cache/ once per run.
 * `script` picks another self-contained peer server written the same way (default: the Rooms bare ws peer).
 */
export async function bareWsCommand(script = 'bench/peers/bare-ws-server.ts'): Promise<string[]> {
  let compiled = bareCompiled.get(script);
  if (!compiled) {
    const { default: ts } = await import('typescript');
    const source = readFileSync(resolve(ROOT, script), 'utf8');
    const js = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
    const out = resolve(ROOT, 'bench/.cache', `${basename(script).replace(/\.ts$/, '')}.mjs`);
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, js);
    bareCompiled.set(script, (compiled = out));
  }
  return [process.execPath, compiled];
}

/** Why Tideline cannot be started at all (nothing built), or undefined. */
export function tidelineMissing(distDir: string, override?: string): string | undefined {
  if (override) return undefined;
  return existsSync(resolve(distDir, 'main.js')) ? undefined : `${relative(ROOT, resolve(distDir, 'main.js'))} does not exist`;
}

export type StartOptions = {
  backend: Backend;
  /** 0 = let the server pick; the listening line tells which. */
  port?: number;
  timeoutMs?: number;
  extraEnv?: Record<string, string>;
};

/**
 * Spawns a server and waits for `… listening on http://127.0.0.1:<port>` on its stdout.
 * The bare ws peer is told to exit when its stdin closes, so it cannot outlive the bench.
 */
export async function startServer(kind: ServerKind, cmd: string[], opts: StartOptions): Promise<ServerHandle> {
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(opts.port ?? 0), HOST: '127.0.0.1', LOG_LEVEL: 'warn', ...opts.extraEnv };
  delete env.DATABASE_URL;
  delete env.DATA_DIR;
  delete env.NODE_OPTIONS;
  if (opts.backend.kind === 'postgres') env.DATABASE_URL = opts.backend.url;
  if (opts.backend.kind === 'pglite') env.DATA_DIR = opts.backend.dataDir;

  const t0 = performance.now();
  const child: ChildProcess = spawnTracked(cmd[0], cmd.slice(1), { env, stdio: ['pipe', 'pipe', 'pipe'] });
  const stderr: string[] = [];
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    stderr.push(chunk);
    if (stderr.length > 200) stderr.splice(0, stderr.length - 200);
  });
  const tail = () => stderr.join('').split('\n').slice(-15).join('\n').trim();

  const port = await new Promise<number>((resolvePort, reject) => {
    let buffer = '';
    const timer = setTimeout(() => {
      reject(new ServerStartError(`${kind}: no "listening on" line within ${Math.round((opts.timeoutMs ?? 30000) / 1000)} s`));
    }, opts.timeoutMs ?? 30_000);
    const onData = (chunk: string) => {
      buffer += chunk;
      const m = /listening on http:\/\/[^:\s]+:(\d+)/.exec(buffer);
      if (m) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        child.stdout!.resume(); // keep draining
        resolvePort(Number(m[1]));
      } else if (buffer.length > 1 << 20) buffer = buffer.slice(-4096);
    };
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', onData);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new ServerStartError(`${kind}: ${e.message}`));
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new ServerStartError(`${kind} exited (${signal ?? code}) before listening${tail() ? `:\n${tail()}` : ''}`));
    });
  }).catch(async (error) => {
    await stopProcess(child, 1000);
    throw error;
  });
  child.stdout!.on('data', () => undefined);

  return {
    kind,
    pid: child.pid!,
    port,
    httpUrl: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}`,
    startMs: performance.now() - t0,
    rssKb: () => rssKb(child.pid),
    stop: async () => {
      child.stdin?.end();
      await stopProcess(child, 5000);
    },
    stderrTail: tail,
  };
}
