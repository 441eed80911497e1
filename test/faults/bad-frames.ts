import { encode as encodeCbor } from 'cborg';

// Globals read once: inside Jest's sandbox every read of a global (Math, JSON, …) is slow, and these run millions of times.
const { imul, floor } = Math;
const { fromCharCode, fromCodePoint } = String;
const { isArray } = Array;
const { entries, fromEntries } = Object;
const stringify = JSON.stringify;
const U8 = Uint8Array;

/**
 * Generated frames for the bad-input tests, each with the answer the protocol owes it. Frames are built
 * from a seeded generator so that a failure can be replayed (FAULT_SEED=<seed>).
 */

/** What a frame must get back on its own connection. */
export type Expect =
  | { kind: 'error' }
  | { kind: 'pong'; nonce: unknown }
  | { kind: 'init'; key: string }
  /** A valid push (relay/replace): no reply, but a broadcast of `value` (as this connection reads it). */
  | { kind: 'push'; id: number; value: unknown }
  /** Lenient decoding may accept it (a broadcast) or refuse it (an error); either is an answer, silence is not. */
  | { kind: 'error-or-push'; id: number };

export type Case = { label: string; data: string | Uint8Array; binary: boolean; expect: Expect };

export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = imul(t ^ (t >>> 15), t | 1);
    t ^= t + imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const cat = (...parts: (Uint8Array | number[])[]): Uint8Array => {
  const arrays = parts.map((p) => (p instanceof U8 ? p : Uint8Array.from(p)));
  const out = new Uint8Array(arrays.reduce((n, a) => n + a.length, 0));
  let at = 0;
  for (const a of arrays) {
    out.set(a, at);
    at += a.length;
  }
  return out;
};
const cbor = (value: unknown): Uint8Array => encodeCbor(value as never);

/** How a connection in a given format reads back a value the server accepted. */
export function asRead(value: unknown, cborReader: boolean): unknown {
  if (value === undefined) return null;
  if (value instanceof U8) return cborReader ? value : Array.from(value);
  if (isArray(value)) return value.map((v) => asRead(v, cborReader));
  if (value !== null && typeof value === 'object') {
    return fromEntries(entries(value).map(([k, v]) => [k, asRead(v, cborReader)]));
  }
  return value;
}

export class FrameGenerator {
  private nextId = 0;

  constructor(
    private readonly rng: () => number,
    /** Tells this connection's own valid pushes from everyone else's broadcasts. */
    private readonly tag: string,
    /** The connection reads CBOR (binary frames) or JSON (text frames). */
    private readonly cborReader: boolean,
    private readonly maxBytes: number,
  ) {}

  int(n: number): number {
    return floor(this.rng() * n);
  }
  chance(p: number): boolean {
    return this.rng() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  /** Well-formed strings: ASCII, other BMP characters (no surrogates), astral characters as pairs. */
  text(maxLength: number): string {
    const length = this.int(maxLength + 1);
    let s = '';
    for (let i = 0; i < length; i++) {
      const r = this.rng();
      if (r < 0.7) s += fromCharCode(0x20 + this.int(0x5f));
      else if (r < 0.9) s += fromCharCode(0xa0 + this.int(0xd7ff - 0xa0));
      else s += fromCodePoint(0x10000 + this.int(0x10ffff - 0x10000));
    }
    return s;
  }

  key(): string {
    // Never the well-behaved clients' keys ("wb-…"), never a key that sets a prototype.
    const k = this.chance(0.1) ? this.pick(['', ' ', 'constructor', 'toString', 'hasOwnProperty', '$bytes', '$object', '日本', '🙂']) : this.text(24);
    return k.startsWith('wb-') || k === '__proto__' ? `x${k}` : k;
  }

  /** A random value every backend must store and give back unchanged. */
  value(depth = 0): unknown {
    const r = this.rng();
    if (depth > 4 || r < 0.45) {
      return this.pick([
        () => null,
        () => this.chance(0.5),
        () => this.int(2 ** 31) - 2 ** 30,
        () => (this.rng() - 0.5) * 10 ** this.int(300),
        () => this.pick([0, -1, 2 ** 53 - 1, -(2 ** 53) + 1, 5e-324, 1.7976931348623157e308, 0.1]),
        () => this.text(32),
      ])();
    }
    if (r < 0.7) return Array.from({ length: this.int(6) }, () => this.value(depth + 1));
    const out: Record<string, unknown> = {};
    for (let i = this.int(6); i > 0; i--) out[this.key()] = this.value(depth + 1);
    return out;
  }

  private id(): number {
    return this.nextId++;
  }

  /** A push message around `inner`, tagged so its broadcast can be found. */
  private push(inner: unknown, id: number, action: unknown = { type: this.pick(['relay', 'replace']) }, key = this.key()) {
    return { type: 'push', key, value: { fz: this.tag, n: id, v: inner }, action };
  }

  private encode(message: unknown, asCbor: boolean): { data: string | Uint8Array; binary: boolean } {
    return asCbor ? { data: cbor(message), binary: true } : { data: stringify(message), binary: false };
  }

  /** Mostly this connection's own format, sometimes the other (text is read as JSON, binary as CBOR anywhere). */
  private frameKind(): boolean {
    return this.chance(0.8) ? this.cborReader : !this.cborReader;
  }

  private accepted(label: string, inner: unknown, asCbor = this.frameKind(), action?: unknown): Case {
    const id = this.id();
    const message = this.push(inner, id, action);
    return { label, ...this.encode(message, asCbor), expect: { kind: 'push', id, value: asRead(message.value, this.cborReader) } };
  }

  private refused(label: string, message: unknown, asCbor = this.frameKind()): Case {
    return { label, ...this.encode(message, asCbor), expect: { kind: 'error' } };
  }

  private validMessage(): Record<string, unknown> {
    return this.pick([
      () => ({ type: 'ping', nonce: this.int(1e6) }),
      () => ({ type: 'get', key: this.key(), seq: 0 }),
      () => this.push(this.value(), -1),
    ])();
  }

  /** One frame that fits in MAX_MESSAGE_BYTES. */
  next(): Case {
    const r = this.rng();
    if (r < 0.12) return this.brokenJson();
    if (r < 0.31) return this.wrongTypes();
    if (r < 0.32) return this.huge();
    if (r < 0.37) return this.deep();
    if (r < 0.47) return this.badStrings();
    if (r < 0.57) return this.garbage();
    if (r < 0.67) return this.randomCbor();
    if (r < 0.74) return this.unknownAction();
    if (r < 0.81) return this.badCompact();
    return this.valid();
  }

  brokenJson(): Case {
    const json = stringify(this.validMessage());
    const data = this.pick([
      () => json.slice(0, this.int(json.length)), // cut short (an object's prefix never parses)
      () => json.replace(/"/g, "'"),
      () => json.replace(/:/, ''),
      () => `${json.slice(0, -1)},}`,
      () => `\uFEFF${json}`,
      () => `${json}${this.pick(['x', '}', ',{}', '\u0000', ' 1'])}`,
      () => this.pick(['', ' ', '{', '}', '[', '{"type":', 'nul', 'tru', '"', '{"type":"ping"', '{"type":"ping",}', 'NaN', 'undefined', '{type:"ping"}', '\u0000']),
      () => this.text(120).replace(/^\s*[{[]/, '#'),
      () => `{"type":"push","key":"k","value":"${'\u0001'}","action":{"type":"relay"}}`, // raw control character
    ])();
    return { label: 'broken JSON', data, binary: false, expect: { kind: 'error' } };
  }

  wrongTypes(): Case {
    const odd = () => this.pick([0, 1.5, -3, true, false, null, 'x', [], [1, 2], {}, { a: 1 }]);
    const key = this.key();
    const message = this.pick<() => unknown>([
      () => odd(), // not an object at all
      () => this.text(20),
      () => ({ nonce: 1 }), // no type
      () => ({ type: this.pick([1, null, true, [], {}, ['push'], { type: 'push' }]) }),
      () => ({ type: this.pick(['', 'PUSH', 'Push', 'pushh', 'init', 'pong', 'error', 'stream_size', 'subscribe', 'push ', ' get', 'ping\u0000']), key }),
      () => ({ type: 'push', key: this.pick([1, null, true, [], {}, ['k'], { k: 1 }]), value: 1, action: { type: 'relay' } }),
      () => ({ type: 'push', value: 1, action: { type: 'relay' } }), // no key
      () => ({ type: 'push', key: 'k'.repeat(1025 + this.int(500)), value: 1, action: { type: 'relay' } }),
      () => ({ type: 'get', key: this.pick([1, null, [], {}]), seq: 0 }),
      () => ({ type: 'get', seq: 0 }),
      () => ({ type: 'get', key, seq: this.pick([-1, 1.5, '3', [], {}, true, -0.5, '0']) }),
    ])();
    return this.refused('wrong types', message);
  }

  unknownAction(): Case {
    const action = this.pick<unknown>([
      undefined,
      null,
      0,
      true,
      [],
      ['append'],
      'delete',
      'APPEND',
      '',
      {},
      { type: null },
      { type: 3 },
      { type: this.pick(['delete', 'Append', 'RELAY', 'insert', 'compact ', 'replace\u0000', '']) },
      { kind: 'append' },
    ]);
    const message: Record<string, unknown> = { type: 'push', key: this.key(), value: this.value() };
    if (action !== undefined) message.action = action;
    return this.refused('unknown action', message);
  }

  badCompact(): Case {
    // Every seq here is refused: not an integer ≥ 1, unsafe, or far ahead of anything the room issued.
    const seq = this.pick<unknown>([undefined, 0, -1, -(2 ** 40), 1.5, '5', null, true, [], {}, [3], 2 ** 40 + this.int(1000), 2 ** 53 + 2, 1e300]);
    const action: Record<string, unknown> = { type: 'compact' };
    if (seq !== undefined) action.seq = seq;
    return this.refused('compact with a bad seq', { type: 'push', key: this.key(), value: this.value(), action });
  }

  /** Built once per generator: big values cost more to build than to send. */
  private bigValues?: { text: string; array: number[]; object: Record<string, number>; withNul: string[] };

  huge(): Case {
    const room = this.maxBytes - 400; // the envelope (type, key, action, tag) fits in the rest
    const big = (this.bigValues ??= {
      text: 'h'.repeat(room),
      array: Array.from({ length: floor(room / 12) }, (_, i) => i * 1.5),
      object: fromEntries(Array.from({ length: floor(room / 16) }, (_, i) => [`k${i}`, i])),
      withNul: [...Array.from({ length: floor(room / 12) }, () => 'abcdefgh'), 'z\u0000'],
    });
    const kind = this.int(4);
    if (kind === 0) return this.accepted('huge string', big.text.slice(0, room - this.int(room / 2)), this.cborReader);
    if (kind === 1) return this.accepted('huge array', big.array, this.cborReader);
    if (kind === 2) return this.accepted('huge object', big.object, this.cborReader);
    // Huge, and one bad string at the very end.
    return this.refused('huge with a NUL at the end', this.push(big.withNul, this.id()), this.cborReader);
  }

  private deepJson?: string;
  private deepCbor?: Uint8Array;

  deep(): Case {
    const nest = (depth: number, leaf: unknown): unknown => {
      let v = leaf;
      for (let i = 0; i < depth; i++) v = this.chance(0.5) ? [v] : { d: v };
      return v;
    };
    const r = this.int(4);
    // The push wraps the value in one object: 63 levels inside it is the deepest value allowed (64).
    if (r === 0) return this.accepted('deep but allowed', nest(60 + this.int(3), 'leaf'));
    if (r === 1) return this.refused('too deep', this.push(nest(64 + this.int(400), 1), this.id()));
    // Far deeper than any parser's recursion: the decoder must fail cleanly (no crash).
    const depth = floor((this.maxBytes - 200) / 2);
    if (r === 2) {
      const json = (this.deepJson ??= `{"type":"push","key":"k","action":{"type":"relay"},"value":${'['.repeat(depth)}${']'.repeat(depth)}}`);
      return { label: 'deep JSON', data: json, binary: false, expect: { kind: 'error' } };
    }
    const bytes = (this.deepCbor ??= cat(
      [0xa4],
      cbor('type'),
      cbor('push'),
      cbor('key'),
      cbor('k'),
      cbor('action'),
      cbor({ type: 'relay' }),
      cbor('value'),
      new Uint8Array(depth * 2).fill(0x81),
      [0x01],
    ));
    return { label: 'deep CBOR', data: bytes, binary: true, expect: { kind: 'error' } };
  }

  badStrings(): Case {
    const bad = this.pick(['\u0000', 'a\u0000b', '\ud800', '\udfff', 'x\ud83dy', '\udc00\ud800', `${'ok'.repeat(50)}\u0000`]);
    const where = this.int(4);
    const asCbor = bad.includes('\u0000') ? this.frameKind() : false; // a CBOR encoder cannot carry a lone surrogate
    const value = this.value();
    const message =
      where === 0
        ? this.push(bad, this.id())
        : where === 1
          ? this.push({ [bad]: value }, this.id())
          : where === 2
            ? this.push([value, [value, { ok: bad }]], this.id())
            : { type: this.pick(['push', 'get']), key: `k${bad}`, seq: 0, value: 1, action: { type: 'relay' } };
    return this.refused('NUL or lone surrogate', message, asCbor);
  }

  garbage(): Case {
    const length = 1 + this.int(this.chance(0.9) ? 64 : 4000);
    const bytes = new Uint8Array(length);
    for (let i = 0; i < length; i++) bytes[i] = this.int(256);
    // A binary frame is CBOR: random bytes never make a valid message (at best a scalar or a map without a type).
    return { label: 'binary garbage', data: bytes, binary: true, expect: { kind: 'error' } };
  }

  /** CBOR only JSON cannot say: tags, undefined, big integers, non-string keys, simple values, bad UTF-8… */
  randomCbor(): Case {
    const id = this.id();
    const envelope = (raw: Uint8Array | number[]) =>
      cat(
        [0xa4],
        cbor('type'),
        cbor('push'),
        cbor('key'),
        cbor(this.key()),
        cbor('action'),
        cbor({ type: this.pick(['relay', 'replace']) }),
        cbor('value'),
        [0xa3],
        cbor('fz'),
        cbor(this.tag),
        cbor('n'),
        cbor(id),
        cbor('v'),
        raw,
      );
    const ok = (label: string, raw: Uint8Array | number[], v: unknown): Case => ({
      label,
      data: envelope(raw),
      binary: true,
      expect: { kind: 'push', id, value: asRead({ fz: this.tag, n: id, v }, this.cborReader) },
    });
    const no = (label: string, raw: Uint8Array | number[]): Case => ({ label, data: envelope(raw), binary: true, expect: { kind: 'error' } });
    const bytes = Uint8Array.from({ length: this.int(40) }, () => this.int(256));
    return this.pick<() => Case>([
      () => no('CBOR tag 1 (date)', [0xc1, 0x1a, 0x5f, 0, 0, 0]),
      () => no('CBOR tag 2 (bignum)', [0xc2, 0x41, 0x01]),
      () => no(`CBOR tag ${0xd8}`, [0xd8, 0x20 + this.int(0x1f), 0x01]),
      () => no('CBOR map with an integer key', [0xa1, 0x01, 0x02]),
      () => no('CBOR map with a bytes key', [0xa1, 0x41, 0x00, 0x02]),
      () => no('CBOR 64-bit integer', cat([0x1b], Uint8Array.from({ length: 8 }, () => 0x80 + this.int(0x7f)))),
      () => no('CBOR negative 64-bit integer', cat([0x3b], Uint8Array.from({ length: 8 }, () => 0x80 + this.int(0x7f)))),
      () => no('CBOR NaN', [0xf9, 0x7e, 0x00]),
      () => no('CBOR Infinity', [0xfa, 0x7f, 0x80, 0x00, 0x00]),
      () => no('CBOR -Infinity', [0xf9, 0xfc, 0x00]),
      () => no('CBOR simple value', [0xf0 + this.int(4)]),
      () => no('CBOR text with NUL', [0x63, 0x61, 0x00, 0x62]),
      () => no('CBOR truncated', [0x5a, 0xff, 0xff, 0xff, 0xff, 0x01]),
      // cborg takes a stray break as the end of the enclosing map: the message may come out valid, minus `v`.
      () => ({ label: 'CBOR break inside a definite map', data: envelope([0xff]), binary: true, expect: { kind: 'error-or-push', id } }),
      () => ok('CBOR undefined', [0xf7], null),
      () => ok('CBOR bytes', cbor(bytes), bytes),
      () => ok('CBOR tag 64 bytes', cat([0xd8, 0x40], cbor(bytes)), bytes),
      () => ok('CBOR indefinite array', [0x9f, 0x01, 0x02, 0x61, 0x78, 0xff], [1, 2, 'x']),
      () => ok('CBOR indefinite map', [0xbf, 0x61, 0x61, 0x01, 0xff], { a: 1 }),
      () => ok('CBOR half float', [0xf9, 0x3c, 0x00], 1),
      () => ({ label: 'CBOR text with bad UTF-8', data: envelope(this.pick([[0x63, 0xed, 0xa0, 0x80], [0x61, 0xff], [0x62, 0xc0, 0x80]])), binary: true, expect: { kind: 'error-or-push', id } }),
      () => ({ label: 'CBOR trailing bytes', data: cat(cbor({ type: 'ping', nonce: 1 }), [0x00]), binary: true, expect: { kind: 'error' } }),
      () => ({ label: 'CBOR root scalar', data: cbor(this.pick([1, 'x', null, [1], true, bytes])), binary: true, expect: { kind: 'error' } }),
    ])();
  }

  valid(): Case {
    const r = this.int(4);
    if (r === 0) {
      const nonce = this.value();
      const asCbor = this.frameKind();
      return { label: 'ping', ...this.encode({ type: 'ping', nonce }, asCbor), expect: { kind: 'pong', nonce: asRead(nonce, this.cborReader) } };
    }
    if (r === 1) {
      const key = this.key();
      return { label: 'get', ...this.encode({ type: 'get', key, seq: this.pick([0, 1, 2 ** 40]) }, this.frameKind()), expect: { kind: 'init', key } };
    }
    return this.accepted('weird but valid value', this.value());
  }

  /** Frames over MAX_MESSAGE_BYTES: the connection must close with 1009. */
  oversized(): { label: string; data: string | Uint8Array; binary: boolean } {
    const size = this.maxBytes + 1 + this.int(this.chance(0.5) ? 16 : this.maxBytes);
    return this.pick([
      () => ({ label: 'oversized JSON push', data: stringify(this.push('o'.repeat(size), this.id())), binary: false }),
      () => ({ label: 'oversized CBOR push', data: cbor(this.push('o'.repeat(size), this.id())), binary: true }),
      () => ({ label: 'oversized garbage', data: Uint8Array.from({ length: size }, () => this.int(256)), binary: true }),
      () => ({ label: 'oversized text', data: 'x'.repeat(size), binary: false }),
    ])();
  }
}
