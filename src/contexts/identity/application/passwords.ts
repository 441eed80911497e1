import { createHash } from 'node:crypto';
import argon2 from 'argon2';

/** argon2id with the library's defaults (tens of milliseconds per hash or verification). */
export function hashPassword(password: string): Promise<string> {
  return argon2.hash(password, { type: argon2.argon2id });
}

export async function verifyPassword(hash: string | null, password: string): Promise<boolean> {
  if (!hash) {
    await dummyVerify(password);
    return false;
  }
  try {
    return await argon2.verify(hash, password);
  } catch {
    return false;
  }
}

let dummy: Promise<string> | undefined;

/** Costs what a real verification does, so an unknown email is not told apart from a wrong password by time. */
export async function dummyVerify(password: string): Promise<void> {
  dummy ??= argon2.hash('tideline-no-such-user', { type: argon2.argon2id });
  await argon2.verify(await dummy, password).catch(() => false);
}

/** Names one password hash (so, one setting of a user's password) without revealing it: a change of password changes it. */
export function passwordStampOf(hash: string): string {
  return createHash('sha256').update('tideline-password-stamp\u0000').update(hash).digest('base64url');
}
