/** Quotes a value as an SQL string literal (standard_conforming_strings, as on every supported server). */
export function sqlLiteral(value: string): string {
  if (value.includes('\u0000')) throw new Error('NUL cannot appear in an SQL literal');
  return `'${value.replace(/'/g, "''")}'`;
}
