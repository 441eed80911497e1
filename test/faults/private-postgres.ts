import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createScratchDatabase, dropScratchDatabase, withDatabase } from '../support/databases.js';
import { freePort, type Cleanup } from './fault-helpers.js';

const run = promisify(execFile);

/** A PostgreSQL a test may stop and start at will: never the machine's shared one. */
export interface RestartableDatabase {
  readonly kind: string;
  /** A database URL for the servers under test. */
  readonly url: string;
  stop(): Promise<void>;
  start(): Promise<void>;
}

/** The newest PostgreSQL server binaries installed here (Debian layout), if any. */
function postgresBin(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')) && existsSync(join(root, v, 'bin', 'pg_ctl')))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length > 0 ? join(root, versions[0], 'bin') : undefined;
}

/**
 * A throwaway cluster of our own (initdb in a temp folder, on a free port). initdb and postgres refuse
 * to run as root: as root, they run as the `postgres` user through runuser.
 */
export class PrivateCluster implements RestartableDatabase {
  readonly kind = 'private PostgreSQL cluster';
  private constructor(
    private readonly bin: string,
    private readonly dir: string,
    private readonly port: number,
  ) {}

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  private static as(command: string, args: string[]): [string, string[]] {
    return process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args];
  }

  private async ctl(args: string[]): Promise<void> {
    const [command, argv] = PrivateCluster.as(join(this.bin, 'pg_ctl'), ['-D', join(this.dir, 'data'), ...args]);
    await run(command, argv, { timeout: 60_000 });
  }

  static async create(cleanup: Cleanup): Promise<PrivateCluster> {
    const bin = postgresBin();
    if (!bin) throw new Error('no PostgreSQL server binaries under /usr/lib/postgresql/*/bin');
    const dir = mkdtempSync(join(tmpdir(), 'tideline-pg-'));
    cleanup.add(() => rmSync(dir, { recursive: true, force: true }));
    if (process.getuid?.() === 0) {
      const { stdout } = await run('id', ['-u', 'postgres']);
      const { stdout: gid } = await run('id', ['-g', 'postgres']);
      chownSync(dir, Number(stdout.trim()), Number(gid.trim()));
    }
    const [command, argv] = PrivateCluster.as(join(bin, 'initdb'), ['-D', join(dir, 'data'), '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
    await run(command, argv, { timeout: 60_000 });
    const cluster = new PrivateCluster(bin, dir, await freePort());
    cleanup.add(() => cluster.ctl(['-m', 'immediate', '-w', 'stop']).catch(() => undefined));
    await cluster.start();
    return cluster;
  }

  async start(): Promise<void> {
    const options = `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100`;
    await this.ctl(['-o', options, '-l', join(this.dir, 'log'), '-w', '-t', '30', 'start']);
  }

  /** A fast shutdown: sessions are ended, then the server stops (what a restart does first). */
  async stop(): Promise<void> {
    await this.ctl(['-m', 'fast', '-w', '-t', '30', 'stop']);
  }
}

/**
 * The fallback when no private cluster can run: a TCP proxy of our own in front of a scratch database
 * on the shared PostgreSQL. `stop()` cuts every connection and refuses new ones, `start()` listens again.
 */
export class CuttableProxy implements RestartableDatabase {
  readonly kind = 'TCP proxy in front of the shared PostgreSQL';
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private readonly pairs = new Set<[Socket, Socket]>();
  private frozen = false;

  private constructor(
    private readonly target: URL,
    private readonly port: number,
    private readonly database: string,
  ) {}

  get url(): string {
    const u = new URL(withDatabase(this.target.toString(), this.database));
    u.hostname = '127.0.0.1';
    u.port = String(this.port);
    return u.toString();
  }

  static async create(cleanup: Cleanup, sharedUrl: string): Promise<CuttableProxy> {
    const database = await createScratchDatabase(sharedUrl);
    cleanup.add(() => dropScratchDatabase(sharedUrl, database));
    const proxy = new CuttableProxy(new URL(sharedUrl), await freePort(), database);
    cleanup.add(() => proxy.stop());
    await proxy.start();
    return proxy;
  }

  async start(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect({ host: this.target.hostname, port: Number(this.target.port || 5432) });
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      const pair: [Socket, Socket] = [client, upstream];
      this.pairs.add(pair);
      client.on('close', () => this.pairs.delete(pair));
      client.pipe(upstream);
      upstream.pipe(client);
      if (this.frozen) this.hold(pair);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.server = server;
  }

  private hold([client, upstream]: [Socket, Socket]): void {
    client.unpipe(upstream);
    upstream.unpipe(client);
    client.pause();
    upstream.pause();
  }

  /**
   * The database stops answering without going away (a network partition): connections stay open,
   * new ones are accepted, but no byte goes through in either direction until `thaw()`.
   */
  freeze(): void {
    this.frozen = true;
    for (const pair of this.pairs) this.hold(pair);
  }

  thaw(): void {
    this.frozen = false;
    for (const [client, upstream] of this.pairs) {
      client.pipe(upstream);
      upstream.pipe(client);
    }
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** A private cluster when one can run here, else the proxy (and the test says which it used). */
export async function restartableDatabase(cleanup: Cleanup, sharedUrl: string): Promise<RestartableDatabase> {
  if (process.env.FAULT_RESTART_VIA_PROXY) return CuttableProxy.create(cleanup, sharedUrl); // to exercise the fallback
  try {
    return await PrivateCluster.create(cleanup);
  } catch (error) {
    // eslint-disable-next-line no-console
    console.warn(`database-restart: no private cluster (${(error as Error).message.split('\n')[0]}); using a TCP proxy instead`);
    return CuttableProxy.create(cleanup, sharedUrl);
  }
}
