import { Logger } from '@nestjs/common';
import type { Database } from '../database/database.js';
import type { LogCheckpoint } from '../event-store/event.js';
import type { EventStore } from '../event-store/event-store.js';
import { LOG_CHANNEL } from '../event-store/group-commit.js';
import type { EventFeed } from './event-feed.js';
import { Checkpoints } from './checkpoints.js';
import { InlineProjection } from './inline-projection.js';
import { compareCheckpoints } from './log-position.js';
import { ProjectionTimeoutError, selects, type Projector, type ProjectorStatus } from './projector.js';
import { DEFAULT_RUNNER_OPTIONS, ProjectorRunner, type RunnerOptions } from './projector-runner.js';

/** How often a wait for a projector that another process runs looks at its checkpoint. */
const REMOTE_WAIT_POLL_MS = 25;

/**
 * Every projector of this process. Contexts register theirs while their modules initialise; `start`
 * (at application bootstrap) runs them. Async projectors are woken by this process's commits (the feed),
 * by other processes' (NOTIFY), and by a poll.
 */
export class ProjectionRuntime {
  private readonly logger = new Logger(ProjectionRuntime.name);
  private readonly runners = new Map<string, ProjectorRunner>();
  private readonly inline = new Map<string, InlineProjection>();
  private readonly checkpoints: Checkpoints;
  private unsubscribe?: () => void;
  private unlisten?: () => Promise<void>;
  private started = false;

  constructor(
    private readonly db: Database,
    private readonly store: EventStore,
    private readonly feed: EventFeed,
    private readonly options: RunnerOptions = DEFAULT_RUNNER_OPTIONS,
  ) {
    this.checkpoints = new Checkpoints(db);
  }

  register(projector: Projector): void {
    if (this.runners.has(projector.name) || this.inline.has(projector.name)) throw new Error(`projector ${projector.name} is registered twice`);
    if (projector.mode === 'inline') {
      if (this.started) throw new Error(`projector ${projector.name}: inline projectors are registered before the runtime starts`);
      this.inline.set(projector.name, new InlineProjection(projector, this.db, this.store));
      return;
    }
    const runner = new ProjectorRunner(projector, this.db, this.store, this.options);
    this.runners.set(projector.name, runner);
    if (this.started) void runner.start();
  }

  /**
   * Stops an async projector registered earlier and forgets it (its checkpoint row stays): what was
   * registered at run time (e.g. one projector per user-defined flow) can go away at run time too.
   */
  async unregister(name: string): Promise<void> {
    const runner = this.runners.get(name);
    if (!runner) return;
    this.runners.delete(name);
    await runner.stop();
  }

  /** Whether this process runs the async projector `name` now. */
  owns(name: string): boolean {
    return this.runners.get(name)?.isOwner ?? false;
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    // This process's commits wake only the projectors that select one of their events; a commit's NOTIFY
    // names its writer, so this process's own (already published) are not read again for it.
    this.unsubscribe = this.feed.subscribe((events) => {
      for (const runner of this.runners.values()) if (events.some((e) => !('transient' in e) && selects(runner.projector.selection, e))) runner.wake();
    });
    this.unlisten = this.db.listen(LOG_CHANNEL, (writer) => {
      if (writer !== this.store.nodeId) this.wakeAll();
    });
    for (const projection of this.inline.values()) await projection.start();
    await Promise.all([...this.runners.values()].map((r) => r.start()));
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    await this.unlisten?.().catch(() => undefined);
    await Promise.all([...this.runners.values()].map((r) => r.stop()));
    for (const projection of this.inline.values()) projection.stop();
  }

  /**
   * Read-your-writes: resolves once projector `name` has passed `position` (an event's transaction id and
   * global position, as an append returns them), wherever it runs; past `timeoutMs`, ProjectionTimeoutError.
   */
  async waitFor(name: string, position: LogCheckpoint, timeoutMs = 5000): Promise<void> {
    if (this.inline.has(name)) return; // it committed with the append
    const runner = this.runner(name);
    const deadline = Date.now() + timeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new ProjectionTimeoutError(`projector ${name} did not reach position ${position.globalPosition} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      timer.unref();
    });
    try {
      for (;;) {
        const local = runner.reached(position);
        if (local) {
          let settle: (() => void) | undefined;
          const reached = new Promise<void>((resolve) => {
            settle = resolve;
            void local.then(resolve);
          });
          try {
            return await Promise.race([reached, timeout]);
          } finally {
            runner.forget(settle!);
          }
        }
        // Another process runs it: watch its checkpoint.
        const row = await Promise.race([this.checkpoints.read(name), timeout]);
        if (row && row.version === runner.projector.version && compareCheckpoints(row, position) >= 0) return;
        if (Date.now() >= deadline) await timeout;
        await Promise.race([new Promise((r) => setTimeout(r, REMOTE_WAIT_POLL_MS)), timeout]);
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /** Empties the projector's tables and replays the log into them (whichever process runs it). */
  async rebuild(name: string): Promise<void> {
    const inline = this.inline.get(name);
    if (inline) return inline.rebuild();
    const runner = this.runner(name);
    if (runner.isOwner) return runner.rebuild();
    // Another process runs it: reset its row; that process finds its checkpoint moved at its next batch.
    await this.checkpoints.ensure(runner.projector);
    await this.db.transaction(async (tx) => {
      await this.checkpoints.lock(tx, name);
      await this.checkpoints.reset(tx, runner.projector);
    });
    this.logger.log(`projector ${name}: rebuild requested`);
  }

  async status(): Promise<ProjectorStatus[]> {
    const [head] = await this.db.query(`SELECT COALESCE(max(global_position), 0) AS head FROM events`);
    const headPosition = Number(head?.head ?? 0);
    const statuses: ProjectorStatus[] = [];
    for (const runner of this.runners.values()) {
      const { projector } = runner;
      const position = runner.isOwner ? runner.position.globalPosition : ((await this.checkpoints.read(projector.name))?.globalPosition ?? 0);
      statuses.push({
        name: projector.name,
        version: projector.version,
        mode: projector.mode ?? 'async',
        owned: runner.isOwner,
        position,
        lag: Math.max(0, headPosition - position),
        ...(runner.lastFailure ? { failure: runner.lastFailure } : {}),
      });
    }
    for (const { projector } of this.inline.values()) {
      statuses.push({ name: projector.name, version: projector.version, mode: 'inline', owned: true, position: headPosition, lag: 0 });
    }
    return statuses;
  }

  private runner(name: string): ProjectorRunner {
    const runner = this.runners.get(name);
    if (!runner) throw new Error(`no projector named ${name}`);
    return runner;
  }

  private wakeAll(): void {
    for (const runner of this.runners.values()) runner.wake();
  }
}
