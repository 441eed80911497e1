/** Result rows and the one table they are printed as (console and Markdown use the same text). */
export type Target =
  | { kind: 'ratio>='; value: number }
  | { kind: 'ratio<='; value: number }
  | { kind: 'abs<='; value: number; unit: string }
  | { kind: 'none' };

export type Row = {
  section: 'durable' | 'fanout' | 'memory' | 'coldstart' | 'projector' | 'sql' | 'jet' | 'live';
  scenario: string;
  unit: string;
  /** Tideline's figure (null = not measured; `na` says why). */
  tideline: number | null;
  tidelineText?: string;
  na?: string;
  peer: string;
  peerValue: number | null;
  peerText?: string;
  peerNa?: string;
  /** tideline / peer (for latencies and memory, lower is better, see target). */
  ratio: number | null;
  target: Target;
  met: boolean | null;
};

export function evaluate(target: Target, tideline: number | null, ratio: number | null): boolean | null {
  switch (target.kind) {
    case 'ratio>=':
      return ratio === null || !Number.isFinite(ratio) ? null : ratio >= target.value;
    case 'ratio<=':
      return ratio === null || !Number.isFinite(ratio) ? null : ratio <= target.value;
    case 'abs<=':
      return tideline === null || !Number.isFinite(tideline) ? null : tideline <= target.value;
    default:
      return null;
  }
}

export function targetText(t: Target): string {
  switch (t.kind) {
    case 'ratio>=':
      return t.value < 1 ? `≥ ${Math.round(t.value * 100)}% of peer` : `≥ ${t.value}× peer`;
    case 'ratio<=':
      return `≤ ${t.value}× peer`;
    case 'abs<=':
      return `≤ ${t.value} ${t.unit}`;
    default:
      return '—';
  }
}

export function formatNumber(value: number, unit: string): string {
  if (!Number.isFinite(value)) return 'n/a';
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2;
  const text = value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
  return unit ? `${text} ${unit}` : text;
}

export function formatRatio(r: number | null): string {
  if (r === null || !Number.isFinite(r)) return '—';
  return r >= 10 ? `${r.toFixed(1)}×` : `${r.toFixed(2)}×`;
}

function cells(row: Row): string[] {
  const tl = row.tideline === null ? `n/a (${row.na ?? 'not measured'})` : (row.tidelineText ?? formatNumber(row.tideline, row.unit));
  const peer = row.peerValue === null ? `n/a${row.peerNa ? ` (${row.peerNa})` : ''}` : (row.peerText ?? formatNumber(row.peerValue, row.unit));
  const met = row.met === null ? '—' : row.met ? 'yes' : 'NO';
  return [row.scenario, tl, row.peer, peer, formatRatio(row.ratio), targetText(row.target), met];
}

const HEADER = ['scenario', 'tideline', 'peer', 'peer figure', 'ratio', 'target', 'met'];
const RIGHT = new Set([1, 3, 4]);

/** A Markdown table whose columns are also aligned for the terminal. */
export function renderTable(rows: Row[]): string {
  const body = rows.map(cells);
  const widths = HEADER.map((h, i) => Math.max(h.length, ...body.map((r) => width(r[i]))));
  const line = (r: string[]) => `| ${r.map((c, i) => pad(c, widths[i], RIGHT.has(i))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (RIGHT.has(i) ? `${'-'.repeat(w + 1)}:` : `${'-'.repeat(w + 2)}`)).join('|')}|`;
  return [line(HEADER), rule, ...body.map(line)].join('\n');
}

/** Display width: count code points (×, ≥, — are single-width). */
function width(s: string): number {
  return [...s].length;
}

function pad(s: string, w: number, right: boolean): string {
  const fill = ' '.repeat(Math.max(0, w - width(s)));
  return right ? fill + s : s + fill;
}
