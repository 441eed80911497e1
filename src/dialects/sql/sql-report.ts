/**
 * An error report in Endb's shape: the message, then the statement's line with the span underlined and
 * labelled, e.g.
 *
 *   Error: Unknown table: users
 *      ╭─[<unknown>:1:15]
 *      │
 *    1 │ SELECT * FROM users;
 *      │               ──┬──
 *      │                 ╰──── Unknown table
 *   ───╯
 */
export function sqlReport(sql: string, message: string, span?: { offset: number; length: number }, label?: string): string {
  if (!span) return message;
  const offset = Math.min(Math.max(0, span.offset), sql.length);
  const before = sql.slice(0, offset);
  const line = before.split('\n').length;
  const lineStart = before.lastIndexOf('\n') + 1;
  const lineEnd = sql.indexOf('\n', offset) < 0 ? sql.length : sql.indexOf('\n', offset);
  const column = offset - lineStart + 1;
  const text = sql.slice(lineStart, lineEnd);
  const width = Math.max(1, Math.min(span.length, lineEnd - offset || 1));
  const gutter = ' '.repeat(String(line).length + 1);
  const mid = Math.floor((width - 1) / 2);
  const underline = ' '.repeat(column - 1) + '─'.repeat(mid) + '┬' + '─'.repeat(width - mid - 1);
  const pointer = ' '.repeat(column - 1 + mid) + '╰──── ' + (label ?? message);
  return [
    `Error: ${message}`,
    `${gutter}╭─[<unknown>:${line}:${column}]`,
    `${gutter}│`,
    ` ${line} │ ${text}`,
    `${gutter}│ ${underline}`,
    `${gutter}│ ${pointer}`,
    `${'─'.repeat(gutter.length)}╯`,
    '',
  ].join('\n');
}
