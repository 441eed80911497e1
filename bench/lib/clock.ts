/**
 * One clock for every bench process: process.hrtime reads CLOCK_MONOTONIC, which on Linux is shared by
 * all processes of the machine, so a timestamp taken in the pusher can be subtracted in a subscriber.
 */
export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

/** Sleeps until the shared clock reads `atMs`. */
export async function sleepUntil(atMs: number): Promise<void> {
  const left = atMs - nowMs();
  if (left > 0) await sleep(left);
}
