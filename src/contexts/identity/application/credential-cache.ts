import { createHash } from 'node:crypto';

export type CachedCredential = Readonly<{ userId: string; passwordHash: string; until: number }>;

/**
 * Basic credentials verified lately, so that a client sending email:password on every request does not
 * pay for argon2 each time. Keyed by a SHA-256 of email and password (never the password itself), bounded
 * (least recently used go first), each entry for `ttlMs`. An entry only says "this password matched this
 * hash": the caller still reads the user and trusts the entry only while the user's hash is the same, so a
 * password change or a deletion anywhere ends it. `forgetUser` drops a user's entries at once.
 */
export class CredentialCache {
  private readonly entries = new Map<string, CachedCredential>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries: number,
    private readonly now: () => number = Date.now,
  ) {}

  static key(email: string, password: string): string {
    return createHash('sha256').update(email).update('\u0000').update(password).digest('hex');
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: string): CachedCredential | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.entries.delete(key);
    if (entry.until <= this.now()) return undefined;
    this.entries.set(key, entry); // most recently used last
    return entry;
  }

  set(key: string, userId: string, passwordHash: string): void {
    if (this.ttlMs <= 0) return;
    this.entries.delete(key);
    this.entries.set(key, { userId, passwordHash, until: this.now() + this.ttlMs });
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }

  forgetUser(userId: string): void {
    for (const [key, entry] of this.entries) if (entry.userId === userId) this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }
}
