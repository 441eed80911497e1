/** Command-line flags (and their environment equivalents) of `npm run bench -- …`. */
export const SCENARIOS = ['durable', 'fanout', 'memory', 'coldstart', 'projector', 'sql', 'jet', 'live'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

const ALIASES: Record<string, ScenarioName> = {
  durable: 'durable', push: 'durable', pushes: 'durable', throughput: 'durable',
  fanout: 'fanout', 'fan-out': 'fanout', latency: 'fanout',
  memory: 'memory', mem: 'memory', rss: 'memory',
  coldstart: 'coldstart', 'cold-start': 'coldstart', cold: 'coldstart', startup: 'coldstart',
  projector: 'projector', projectors: 'projector', projections: 'projector',
  sql: 'sql', endb: 'sql',
  jet: 'jet', jsonjet: 'jet', streams: 'jet',
  live: 'live', nsdb: 'live', 'ws-stream': 'live',
};

export type Options = {
  only: ScenarioName[];
  /** Fan-out cases to run (a, b, c, d). */
  cases: string[];
  quick: boolean;
  build: boolean;
  write: boolean;
  verbose: boolean;
  /** Bare ws peer corks each socket per event-loop turn, as Tideline does (off by default: the peer is stock `ws`). */
  peerCork: boolean;
  warmupMs: number;
  measureMs: number;
  /** Durable row: pushes in flight per connection. */
  inFlight: number;
  /** Memory row: idle connections and written rooms. */
  idleConnections: number;
  writtenRooms: number;
  coldRuns: number;
  tidelineCmd?: string;
  databaseUrl: string;
};

const HELP = `usage: npm run bench -- [flags]
  --only <list>        scenarios to run, comma-separated: durable, fanout, memory, coldstart, projector, sql, jet, live   (env BENCH_ONLY)
  --cases <list>       fan-out cases: a,b,c,d                                                (env BENCH_CASES)
  --quick              smoke run: short windows, fewer rooms/connections                     (env BENCH_QUICK=1)
  --measure <s>        seconds of measured steady load per scenario (default 5, quick 2)
  --warmup <s>         seconds of load before measuring (default 1.5, quick 1)
  --in-flight <n>      durable row: pushes in flight per connection (default 8)
  --idle-conns <n>     memory row: idle WebSocket connections (default 10000, quick 2000)
  --rooms <n>          memory row: rooms created and written once (default 100000, quick 5000)
  --cold-runs <n>      cold-start repetitions per variant (default 3, quick 1)
  --tideline-cmd <c>   command that starts the server under test (default: a fresh build of src/) (env BENCH_TIDELINE_CMD)
  --standin            use the bare ws peer as a stand-in for Tideline (to test the harness)
  --no-build           do not compile Tideline; run a copy of the current dist/
  --no-write           do not write bench/results/latest.{json,md}
  --peer-cork          the bare ws peer corks each socket per event-loop turn, as Tideline does (env BENCH_PEER_CORK=1)
  --verbose            show load-process logs
env DATABASE_URL       PostgreSQL server (default ${'postgres://postgres@127.0.0.1:5432/test'}); a scratch database is created per run`;

export function parseOptions(argv: string[], env: NodeJS.ProcessEnv): Options {
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) throw new Error(`unexpected argument "${arg}"\n${HELP}`);
    const [name, inline] = arg.slice(2).split('=', 2);
    if (inline !== undefined) flags.set(name, inline);
    else if (i + 1 < argv.length && !argv[i + 1].startsWith('--') && !BOOLEAN.has(name)) flags.set(name, argv[++i]);
    else flags.set(name, true);
  }
  if (flags.has('help') || flags.has('h')) {
    console.log(HELP);
    process.exit(0);
  }
  for (const name of flags.keys()) if (!KNOWN.has(name)) throw new Error(`unknown flag --${name}\n${HELP}`);

  const str = (name: string, envName?: string): string | undefined => {
    const v = flags.get(name);
    if (typeof v === 'string') return v;
    return envName ? env[envName] || undefined : undefined;
  };
  const num = (name: string, fallback: number): number => {
    const v = str(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} wants a positive number, got "${v}"`);
    return n;
  };
  const quick = flags.has('quick') || env.BENCH_QUICK === '1' || env.BENCH_QUICK === 'true';

  const onlyText = str('only', 'BENCH_ONLY');
  const only = onlyText
    ? [...new Set(onlyText.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean).map((s) => {
        const name = ALIASES[s];
        if (!name) throw new Error(`unknown scenario "${s}" (choose from ${SCENARIOS.join(', ')})`);
        return name;
      }))]
    : [...SCENARIOS];
  const cases = (str('cases', 'BENCH_CASES') ?? 'a,b,c,d').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  for (const c of cases) if (!['a', 'b', 'c', 'd'].includes(c)) throw new Error(`unknown fan-out case "${c}" (a, b, c, d)`);

  let tidelineCmd = str('tideline-cmd', 'BENCH_TIDELINE_CMD');
  if (flags.has('standin')) tidelineCmd = `${process.execPath} --import tsx bench/peers/bare-ws-server.ts`; // (under tsx: fine for a stand-in)

  return {
    only,
    cases,
    quick,
    build: !flags.has('no-build'),
    write: !flags.has('no-write'),
    verbose: flags.has('verbose'),
    peerCork: flags.has('peer-cork') || env.BENCH_PEER_CORK === '1',
    warmupMs: num('warmup', quick ? 1 : 1.5) * 1000,
    measureMs: num('measure', quick ? 2 : 5) * 1000,
    inFlight: Math.round(num('in-flight', 8)),
    idleConnections: Math.round(num('idle-conns', quick ? 2000 : 10_000)),
    writtenRooms: Math.round(num('rooms', quick ? 5000 : 100_000)),
    coldRuns: Math.round(num('cold-runs', quick ? 1 : 3)),
    tidelineCmd,
    databaseUrl: env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test',
  };
}

const BOOLEAN = new Set(['quick', 'standin', 'no-build', 'no-write', 'verbose', 'peer-cork', 'help', 'h']);
const KNOWN = new Set([...BOOLEAN, 'only', 'cases', 'measure', 'warmup', 'in-flight', 'idle-conns', 'rooms', 'cold-runs', 'tideline-cmd']);
