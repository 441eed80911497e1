export type AssemblerLimits = {
  /** Most bytes one reassembled message may have (its chunk count is bounded by it too). */
  maxMessageBytes: number;
  /** Bytes of one chunk (before base64) as the sender cuts them. */
  chunkBytes: number;
  /** Most messages being reassembled at once, and their bytes all together. */
  maxPartials: number;
  maxPartialBytes: number;
  /** A message whose chunks stop arriving is dropped after this. */
  ttlMs: number;
};

type Partial = { chunks: (string | undefined)[]; received: number; bytes: number; since: number };

/**
 * Reassembles messages sent as numbered base64 chunks (`index` of `total`), trusting nothing of what
 * arrives: counts and indexes are checked against the limits, duplicates are ignored, and what is held
 * is bounded in count and bytes (oldest dropped first) and dropped when it goes stale.
 */
export class ChunkAssembler {
  private readonly partials = new Map<string, Partial>();
  private heldBytes = 0;
  /** Chunks and messages refused or dropped, for the caller to report. */
  rejected = 0;

  constructor(private readonly limits: AssemblerLimits) {}

  get pending(): number {
    return this.partials.size;
  }

  /** The whole message as bytes when `chunk` completes it; undefined otherwise (or if refused). */
  add(id: string, index: number, total: number, chunk: string, now = Date.now()): Buffer | undefined {
    const maxChunks = Math.ceil(this.limits.maxMessageBytes / this.limits.chunkBytes);
    const maxEncoded = Math.ceil((this.limits.chunkBytes * 4) / 3) + 4;
    if (!Number.isInteger(total) || !Number.isInteger(index) || total < 1 || total > maxChunks || index < 0 || index >= total || chunk.length > maxEncoded || id === '') {
      this.rejected++;
      return undefined;
    }
    this.prune(now);
    if (total === 1) return Buffer.from(chunk, 'base64');
    let partial = this.partials.get(id);
    if (!partial) {
      partial = { chunks: [], received: 0, bytes: 0, since: now };
      this.partials.set(id, partial);
    } else if (partial.chunks.length !== total) {
      this.drop(id, partial); // the same id with another count: not one message
      this.rejected++;
      return undefined;
    }
    partial.chunks.length = total;
    if (partial.chunks[index] !== undefined) return undefined; // heard twice
    partial.chunks[index] = chunk;
    partial.received++;
    partial.bytes += chunk.length;
    this.heldBytes += chunk.length;
    if (partial.received === total) {
      this.drop(id, partial);
      return Buffer.concat(partial.chunks.map((c) => Buffer.from(c!, 'base64')));
    }
    this.bound();
    return undefined;
  }

  /** Drops what went stale: call it on a timer too, so nothing waits for a next message to be freed. */
  prune(now = Date.now()): void {
    const cutoff = now - this.limits.ttlMs;
    for (const [id, partial] of this.partials) {
      if (partial.since >= cutoff) break; // insertion order is age order
      this.drop(id, partial);
      this.rejected++;
    }
  }

  private bound(): void {
    for (const [id, partial] of this.partials) {
      if (this.partials.size <= this.limits.maxPartials && this.heldBytes <= this.limits.maxPartialBytes) return;
      this.drop(id, partial);
      this.rejected++;
    }
  }

  private drop(id: string, partial: Partial): void {
    this.partials.delete(id);
    this.heldBytes -= partial.bytes;
  }
}
