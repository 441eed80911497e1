import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { sleep } from './clock.js';

/** VmRSS of a process in KB (Linux /proc), or NaN when it cannot be read. */
export function rssKb(pid: number | undefined): number {
  if (!pid) return NaN;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

/** Median of a few RSS readings `gapMs` apart (RSS jitters while GC and allocators settle). */
export async function settledRssKb(pid: number | undefined, samples = 3, gapMs = 300): Promise<number> {
  const values: number[] = [];
  for (let i = 0; i < samples; i++) {
    if (i) await sleep(gapMs);
    values.push(rssKb(pid));
  }
  values.sort((a, b) => a - b);
  return values[values.length >> 1];
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}
