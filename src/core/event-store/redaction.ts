import type { SqlSession } from '../database/database.js';

const PAGE = 500;

/**
 * Rewrites stored events of one stream in place, for erasure only (data that must be gone from every
 * time, not an ordinary change, which is a new event). `redact` returns an event's new data, or
 * undefined to keep it as it is. Events keep their type, positions and metadata, so readers' offsets
 * and expected versions hold; a rebuilt read model then never sees what was erased. Run it in the
 * transaction that appends the erasure (an inline projector's), so the two land together. Returns how
 * many events were rewritten. Reads the stream a page at a time.
 */
export async function redactEvents(
  session: SqlSession,
  streamId: string,
  types: readonly string[],
  redact: (data: unknown) => unknown | undefined,
): Promise<number> {
  let after = 0;
  let rewritten = 0;
  for (;;) {
    const rows = await session.query<{ global_position: string; data: unknown }>(
      `SELECT global_position::text AS global_position, data FROM events
       WHERE stream_id = $1 AND type = ANY($2::text[]) AND global_position > $3 ORDER BY global_position LIMIT ${PAGE}`,
      [streamId, types, after],
    );
    const changed: { position: string; data: string }[] = [];
    for (const row of rows) {
      const next = redact(row.data);
      if (next !== undefined) changed.push({ position: row.global_position, data: JSON.stringify(next) });
    }
    if (changed.length > 0) {
      await session.query(
        `UPDATE events e SET data = c.data::jsonb FROM unnest($1::bigint[], $2::text[]) AS c(position, data) WHERE e.global_position = c.position`,
        [changed.map((c) => c.position), changed.map((c) => c.data)],
      );
      rewritten += changed.length;
    }
    if (rows.length < PAGE) return rewritten;
    after = Number(rows[rows.length - 1].global_position);
  }
}
