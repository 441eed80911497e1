import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nowMs } from './clock.js';
import type { Window } from './load-protocol.js';
import type { Options } from './options.js';
import type { ScratchDatabases } from './scratch-db.js';
import { bareWsCommand, startServer, tidelineCommand, type Backend, type ServerHandle } from './server.js';

/** Why a figure could not be measured: `short` goes in the table cell, `detail` in the notes under it. */
export class Unavailable extends Error {
  constructor(
    readonly short: string,
    readonly detail?: string,
  ) {
    super(detail ? `${short}: ${detail}` : short);
  }
}

export class Context {
  readonly details: Record<string, unknown> = {};
  readonly notes: string[] = [];
  readonly tidelineCmd: string[];
  /** Set when Tideline cannot run at all (not built); per-backend start failures are remembered too. */
  tidelineMissing?: string;
  private readonly tidelineBroken = new Map<string, Unavailable>();
  private readonly tempDirs: string[] = [];

  constructor(
    readonly opts: Options,
    readonly scratch: ScratchDatabases,
    readonly pgError: string | undefined,
    distDir: string,
  ) {
    this.tidelineCmd = tidelineCommand(distDir, opts.tidelineCmd);
  }

  get standIn(): boolean {
    return Boolean(this.opts.tidelineCmd);
  }

  log(message: string): void {
    console.log(`  ${message}`);
  }

  note(message: string): void {
    if (!this.notes.includes(message)) this.notes.push(message);
  }

  /** A fresh scratch database on the PostgreSQL server, or Unavailable. */
  async postgres(purpose: string): Promise<string> {
    if (this.pgError) throw new Unavailable('PostgreSQL unavailable', this.pgError);
    return this.scratch.create(purpose);
  }

  tempDir(tag: string): string {
    const dir = mkdtempSync(join(tmpdir(), `tideline-bench-${tag}-`));
    this.tempDirs.push(dir);
    return dir;
  }

  removeTempDirs(): void {
    for (const dir of this.tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  }

  /** Starts the server under test, or throws Unavailable("server did not start") with the reason noted. */
  async startTideline(backend: Backend): Promise<ServerHandle> {
    if (this.tidelineMissing) throw new Unavailable('server did not start', this.tidelineMissing);
    const known = this.tidelineBroken.get(backend.kind);
    if (known) throw known;
    try {
      return await startServer('tideline', this.tidelineCmd, { backend, timeoutMs: 30_000 });
    } catch (error) {
      const reason = new Unavailable('server did not start', `on ${backend.kind}: ${(error as Error).message}`);
      this.tidelineBroken.set(backend.kind, reason);
      throw reason;
    }
  }

  /** The bare ws peer (or, with `script`, another peer server run the same way, e.g. bench/peers/jet-bare-server.ts). */
  async startBare(script?: string): Promise<ServerHandle> {
    return startServer('bare-ws', await bareWsCommand(script), { backend: { kind: 'none' }, timeoutMs: 20_000, extraEnv: { BARE_WS_CORK: this.opts.peerCork ? '1' : '0' } });
  }

  /** A measurement window starting after the warm-up, from now. */
  window(warmupMs = this.opts.warmupMs, measureMs = this.opts.measureMs): Window {
    const startMs = nowMs() + warmupMs;
    return { startMs, endMs: startMs + measureMs };
  }

  /** The n/a text for a failed measurement, noting the detail once. */
  na(error: unknown, who: string): string {
    if (error instanceof Unavailable) {
      if (error.detail && error.detail !== this.pgError) this.note(`${who}: ${error.short} — ${error.detail}`);
      return error.short;
    }
    const message = error instanceof Error ? error.message : String(error);
    this.note(`${who}: ${message}`);
    return 'failed, see notes';
  }
}

export function split<T>(items: T[], parts: number): T[][] {
  const out: T[][] = Array.from({ length: parts }, () => []);
  items.forEach((item, i) => out[i % parts].push(item));
  return out.filter((p) => p.length);
}
