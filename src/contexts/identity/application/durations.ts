const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `90s`, `15m`, `24h`, `30d`, `500ms`; a bare number is seconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!match) throw new Error(`not a duration: ${text}`);
  const ms = Number(match[1]) * UNITS[match[2] ?? 's'];
  if (!Number.isSafeInteger(ms) || ms <= 0) throw new Error(`not a positive duration: ${text}`);
  return ms;
}
