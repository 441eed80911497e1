import { nowMs } from './clock.js';
import { Histogram, type HistogramJson } from './stats.js';

export type WritersResult = { completed: number; errors: number; firstError?: string; latency: HistogramJson };

/**
 * `writers` closed-loop writers, each owning one stream and appending one event per call until the window
 * ends; counts the appends that complete inside the window.
 */
export async function runWriters(
  writers: number,
  window: { startMs: number; endMs: number },
  appendOne: (writer: number, n: number) => Promise<unknown>,
): Promise<WritersResult> {
  let completed = 0;
  let errors = 0;
  let firstError: string | undefined;
  const latency = new Histogram();
  const writer = async (id: number) => {
    let n = 0;
    while (nowMs() < window.endMs) {
      const t = nowMs();
      try {
        await appendOne(id, ++n);
        const done = nowMs();
        if (done >= window.startMs && done < window.endMs) {
          completed++;
          latency.recordMs(done - t);
        }
      } catch (error) {
        errors++;
        firstError ??= (error as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: writers }, (_, i) => writer(i)));
  return { completed, errors, firstError, latency: latency.toJSON() };
}
