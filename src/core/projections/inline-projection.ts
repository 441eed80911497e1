import { Logger } from '@nestjs/common';
import type { Database } from '../database/database.js';
import type { EventStore } from '../event-store/event-store.js';
import { EVENT_COLUMNS, toRecorded } from '../event-store/rows.js';
import { Checkpoints } from './checkpoints.js';
import { selects, type Projector } from './projector.js';

const REPLAY_PAGE = 1000;

/**
 * An inline projector: its handler runs inside every append transaction that carries an event it selects,
 * so its tables never lag the log and its failure fails the append. It is (re)built, when new or when its
 * version changed, in one transaction that holds appends off the log (SHARE lock on `events`) while it
 * empties its tables and replays every selected event into them.
 */
export class InlineProjection {
  private readonly logger: Logger;
  private readonly checkpoints: Checkpoints;
  private unregister?: () => void;

  constructor(
    readonly projector: Projector,
    private readonly db: Database,
    private readonly store: EventStore,
  ) {
    this.logger = new Logger(`Projector ${projector.name}`);
    this.checkpoints = new Checkpoints(db);
  }

  async start(): Promise<void> {
    const { projector } = this;
    this.unregister = this.store.registerInline({
      name: projector.name,
      handles: (event) => selects(projector.selection, event),
      handle: (tx, events) => projector.handle(tx, events),
    });
    const row = await this.checkpoints.ensure(projector);
    // A row just created says version = current but has replayed nothing: the log may already hold events.
    if (row.version !== projector.version || row.globalPosition === 0) await this.rebuild();
  }

  stop(): void {
    this.unregister?.();
  }

  async rebuild(): Promise<void> {
    const { projector } = this;
    let replayed = 0;
    await this.db.transaction(async (tx) => {
      await tx.query(`LOCK TABLE events IN SHARE MODE`);
      await this.checkpoints.lock(tx, projector.name);
      await this.checkpoints.reset(tx, projector);
      let last: { transactionId: string; globalPosition: number } | undefined;
      for (let after = 0; ; ) {
        const rows = await tx.query(`SELECT ${EVENT_COLUMNS} FROM events WHERE global_position > $1 ORDER BY global_position LIMIT $2`, [after, REPLAY_PAGE]);
        if (rows.length === 0) break;
        const events = rows.map(toRecorded);
        const selected = events.filter((e) => selects(projector.selection, e));
        if (selected.length > 0) await projector.handle(tx, selected);
        replayed += selected.length;
        last = events.at(-1)!;
        after = last.globalPosition;
        if (rows.length < REPLAY_PAGE) break;
      }
      if (last) await this.checkpoints.move(tx, projector.name, { transactionId: last.transactionId, globalPosition: last.globalPosition });
    });
    this.logger.log(`built from the log (${replayed} events)`);
  }
}
