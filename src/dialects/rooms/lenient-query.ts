/**
 * DriftDB's query flags, read leniently: its client reconnects to `…?cbor=true?cbor=true` (it appends
 * `?cbor=true` to a URL that has it already), so every `?` after the first is treated like `&`.
 */
export function lenientQuery(url: string): URLSearchParams {
  const at = url.indexOf('?');
  if (at < 0) return new URLSearchParams();
  return new URLSearchParams(url.slice(at + 1).replace(/\?/g, '&'));
}
