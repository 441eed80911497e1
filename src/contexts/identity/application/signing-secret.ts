import { randomBytes } from 'node:crypto';
import { ConcurrencyError } from '../../../core/event-store/event.js';
import type { EventStore } from '../../../core/event-store/event-store.js';
import { SECRET_STREAM, type SigningSecretGenerated } from '../domain/identity.events.js';

/**
 * The token-signing secret: JWT_SECRET when configured; otherwise one generated once and kept in the log
 * (the first server to need it writes it, expecting the stream absent; any other reads that one), so
 * every server on one database signs and verifies with the same secret, across restarts.
 */
export class SigningSecret {
  private loading?: Promise<Uint8Array>;

  constructor(
    private readonly store: EventStore,
    private readonly configured?: string,
  ) {}

  get(): Promise<Uint8Array> {
    this.loading ??= this.load().catch((error) => {
      this.loading = undefined;
      throw error;
    });
    return this.loading;
  }

  private async load(): Promise<Uint8Array> {
    if (this.configured) return new TextEncoder().encode(this.configured);
    for (let attempt = 0; ; attempt++) {
      const [first] = await this.store.readStream(SECRET_STREAM, { limit: 1 });
      if (first) return Buffer.from((first.data as SigningSecretGenerated['data']).secret, 'base64url');
      const event: SigningSecretGenerated = { type: 'SigningSecretGenerated', data: { secret: randomBytes(32).toString('base64url') } };
      try {
        await this.store.append(SECRET_STREAM, 'no_stream', [event]);
      } catch (error) {
        if (!(error instanceof ConcurrencyError) || attempt > 3) throw error; // another server wrote it first: read theirs
      }
    }
  }
}
