import { SqlError } from '../domain/sql-error.js';
import type { Document } from '../domain/collection.events.js';
import type { Assignment, ColumnPath, Expr, FromItem, OrderItem, Query, Select, SelectItem, Span, Statement, SystemTime } from './ast.js';
import { ParamBag } from './params.js';

/** The tables that exist, each with every column any of its documents ever had. */
export type Catalog = ReadonlyMap<string, ReadonlySet<string>>;

/** A transaction's own writes not yet committed: per table, row id → its new document (null: deleted). */
export type Overlay = ReadonlyMap<string, ReadonlyMap<string, Document | null>>;

/**
 * Which version of the tables a statement reads: the present (`current`), or a transaction's view: the
 * commits stamped up to `tick` (null: before any) with its own pending writes laid over them.
 */
export type Snapshot = Readonly<{ kind: 'current' }> | Readonly<{ kind: 'asOf'; tick: string | null; overlay: Overlay }>;

export type UserParams = Readonly<{ positional?: readonly unknown[]; named?: Readonly<Record<string, unknown>> }>;

export type CompileOptions = Readonly<{
  catalog: Catalog;
  snapshot: Snapshot;
  params: UserParams;
  maxRows: number;
  /** Values as literals in the SQL, no `$n` (see ParamBag); `params` is then empty. */
  inlineParams?: boolean;
}>;

/** An output column: a name known when compiling, or a document whose keys become columns (`*`). */
export type OutputColumn = Readonly<{ kind: 'named'; name: string }> | Readonly<{ kind: 'star' }>;

/** SQL whose columns c0…cn are JSON text, one per output column. */
export type CompiledQuery = Readonly<{ sql: string; params: unknown[]; columns: OutputColumn[] }>;

/** SQL returning `row_id` and (for updates) `doc` as JSON text, for the rows a write statement touches. */
export type CompiledRows = Readonly<{ sql: string; params: unknown[] }>;

export const AGGREGATES = new Set(['count', 'sum', 'avg', 'min', 'max', 'total', 'array_agg', 'group_concat', 'string_agg']);

const COMPARISONS: Record<string, string> = { '<': '< 0', '<=': '<= 0', '>': '> 0', '>=': '>= 0' };
const ARITHMETIC: Record<string, string> = { '+': `'+'`, '-': `'-'`, '*': `'*'`, '/': `'/'`, '%': `'%'` };
const CURRENT_ROWS = `sys_to = 'infinity'`;
const INFORMATION_SCHEMA_COLUMNS: Record<string, readonly string[]> = {
  tables: ['table_catalog', 'table_schema', 'table_name', 'table_type'],
  columns: ['table_catalog', 'table_schema', 'table_name', 'column_name', 'ordinal_position'],
};

type Range = { name: string; sql: string; columns: ReadonlySet<string> | 'any'; temporal: boolean };
type Scope = { ranges: Range[]; parent?: Scope; outputs?: readonly { name: string; sql: string }[]; grouped?: boolean };

/** Compiles the collections query language to parameterized PostgreSQL over the read model's tables. */
export class Compiler {
  private readonly bag: ParamBag;
  private aliases = 0;
  private positional = 0;
  /** The parameter set the expressions being compiled read (`insertRowsMany` moves it from set to set). */
  private userParams: UserParams;

  constructor(private readonly options: CompileOptions) {
    this.userParams = options.params;
    this.bag = new ParamBag(options.inlineParams);
  }

  get params(): unknown[] {
    return this.bag.values;
  }

  /** A query for a client: columns as JSON text, at most maxRows + 1 rows (one more tells it was cut). */
  query(query: Query): CompiledQuery {
    const { sql, columns } = this.compileQuery(query, undefined, this.options.maxRows + 1);
    const outer = columns.map((_, i) => `q.c${i}::text AS c${i}`).join(', ');
    return { sql: `SELECT ${outer} FROM (${sql}) q`, params: this.params, columns };
  }

  /** Each document of an INSERT's VALUES or object list, in order, as a JSON array (VALUES) or object. */
  insertRows(rows: readonly (readonly Expr[])[] | readonly Expr[], values: boolean): CompiledRows {
    const scope: Scope = { ranges: [] };
    const items = (rows as readonly (Expr | readonly Expr[])[]).map((row) =>
      values ? `jsonb_build_array(${(row as readonly Expr[]).map((e) => this.value(e, scope)).join(', ') || ''})` : this.value(row as Expr, scope),
    );
    return {
      sql: `SELECT u.x::text AS doc FROM unnest(ARRAY[${items.join(', ')}]::jsonb[]) WITH ORDINALITY AS u(x, ord) ORDER BY u.ord`,
      params: this.params,
    };
  }

  /**
   * insertRows for several parameter sets at once (a bulk `m` INSERT): every set's documents, set after
   * set, in one query. Stops taking sets once `maxValues` placeholders are used (PostgreSQL takes at most
   * 65535); `taken` says how many sets the query covers.
   */
  insertRowsMany(rows: readonly (readonly Expr[])[] | readonly Expr[], values: boolean, sets: readonly UserParams[], maxValues = 30_000): CompiledRows & { taken: number } {
    const scope: Scope = { ranges: [] };
    const items: string[] = [];
    let taken = 0;
    for (const set of sets) {
      if (taken > 0 && this.bag.values.length >= maxValues) break;
      this.userParams = set;
      this.positional = 0;
      for (const row of rows as readonly (Expr | readonly Expr[])[])
        items.push(values ? `jsonb_build_array(${(row as readonly Expr[]).map((e) => this.value(e, scope)).join(', ') || ''})` : this.value(row as Expr, scope));
      taken++;
    }
    return {
      sql: `SELECT u.x::text AS doc FROM unnest(ARRAY[${items.join(', ')}]::jsonb[]) WITH ORDINALITY AS u(x, ord) ORDER BY u.ord`,
      params: this.params,
      taken,
    };
  }

  /**
   * An INSERT's documents (VALUES rows as arrays, or objects) for each parameter set, made here rather than
   * by a query, when every row is plain data: literals, parameters, objects without spreads and arrays,
   * whose values PostgreSQL would hand back unchanged (no typed scalar to normalize, no integer beyond
   * 2^53, no string jsonb refuses or might re-encode). Undefined when any is not: compile insertRows then.
   * Parameters are read, and missing ones refused, exactly as compiling would.
   */
  insertRowsInline(rows: readonly (readonly Expr[])[] | readonly Expr[], values: boolean, sets: readonly UserParams[]): unknown[] | undefined {
    const out: unknown[] = [];
    for (const set of sets) {
      this.userParams = set;
      this.positional = 0;
      for (const row of rows as readonly (Expr | readonly Expr[])[]) {
        const doc = values ? inlineAll(row as readonly Expr[], (e) => this.inlineValue(e)) : this.inlineValue(row as Expr);
        if (doc === NOT_INLINE) return undefined;
        out.push(doc);
      }
    }
    return out;
  }

  private inlineValue(e: Expr): unknown {
    switch (e.kind) {
      case 'literal':
        return inlineScalar(e.value);
      case 'param':
        return inlineScalar(this.param(e));
      case 'array':
        return inlineAll(e.items, (i) => this.inlineValue(i));
      case 'object': {
        const doc: Record<string, unknown> = {};
        for (const entry of e.entries) {
          if ('spread' in entry || !plainString(entry.key) || entry.key === '__proto__') return NOT_INLINE;
          const v = this.inlineValue(entry.value);
          if (v === NOT_INLINE) return NOT_INLINE;
          doc[entry.key] = v; // a later key replaces an earlier one, as in jsonb_build_object
        }
        return doc;
      }
      default:
        return NOT_INLINE;
    }
  }

  /** The rows of `table` matching `where`, with their new document when `change` builds one. */
  matchingRows(table: string, alias: string | undefined, tablePos: Span, where: Expr | undefined, change?: (scope: Scope, doc: string) => string): CompiledRows {
    const range = this.tableRange(table, alias ?? table, undefined, tablePos);
    const scope: Scope = { ranges: [range.range] };
    const cond = where ? this.cond(where, scope) : 'true';
    const doc = change ? `, (${change(scope, `${range.range.sql}.doc`)})::text AS doc` : '';
    return { sql: `SELECT ${range.range.sql}.row_id${doc} FROM ${range.sql} WHERE ${cond}`, params: this.params };
  }

  /** The new document an UPDATE's SET/UNSET/PATCH makes of a row (`doc` is the row's document SQL). */
  updateDocument(set: readonly Assignment[], unset: readonly ColumnPath[], patch: Expr | undefined, scope: Scope, doc: string): string {
    let out = doc;
    for (const { target, value } of set) {
      if (target.path[0] === 'system_time') throw new SqlError('Cannot update SYSTEM_TIME column', target.pos);
      out = `tl_set(${out}, ${this.bag.add(target.path.map(String), 'text[]')}, ${this.value(value, scope)})`;
    }
    for (const target of unset) out = `(${out} #- ${this.bag.add(target.path.map(String), 'text[]')})`;
    if (patch) out = `tl_patch(${out}, ${this.value(patch, scope)})`;
    return out;
  }

  /**
   * ON CONFLICT DO UPDATE for each (existing, excluded) pair in `pairs` (a JSON array of two-document
   * arrays): its new document, or null where the action's WHERE refuses.
   */
  conflictUpdates(table: string, set: readonly Assignment[], where: Expr | undefined, pairs: string): CompiledRows {
    const row: Range = { name: table, sql: this.alias(), columns: 'any', temporal: false };
    const excluded: Range = { name: 'excluded', sql: this.alias(), columns: 'any', temporal: false };
    const scope: Scope = { ranges: [row, excluded] };
    const doc = this.updateDocument(set, [], undefined, scope, `${row.sql}.doc`);
    const cond = where ? this.cond(where, scope) : 'true';
    return {
      sql: `SELECT p.ord, CASE WHEN ${cond} THEN (${doc})::text END AS doc
            FROM jsonb_array_elements(${this.bag.add(pairs, 'jsonb')}) WITH ORDINALITY AS p(pair, ord),
              LATERAL (SELECT p.pair->0 AS doc, now() AS sys_from, 'infinity'::timestamptz AS sys_to) ${row.sql},
              LATERAL (SELECT p.pair->1 AS doc) ${excluded.sql}
            ORDER BY p.ord`,
      params: this.params,
    };
  }

  private alias(): string {
    return `t${++this.aliases}`;
  }

  // ---- queries ----

  private compileQuery(query: Query, outer: Scope | undefined, cap?: number): { sql: string; columns: OutputColumn[] } {
    switch (query.kind) {
      case 'select':
        return this.select(query, outer, cap);
      case 'values': {
        const width = query.rows[0]?.length ?? 0;
        if (query.rows.some((r) => r.length !== width)) throw new SqlError('All VALUES must have the same number of columns', query.pos);
        const scope: Scope = { ranges: [], parent: outer };
        const rows = query.rows.map((r) => `(${r.map((e) => this.value(e, scope)).join(', ')})`).join(', ');
        const names = Array.from({ length: width }, (_, i) => `c${i}`);
        const limit = cap !== undefined ? ` LIMIT ${cap}` : '';
        return {
          sql: `SELECT ${names.map((n) => `v.${n}`).join(', ')} FROM (VALUES ${rows}) AS v(${names.join(', ')})${limit}`,
          columns: names.map((_, i) => ({ kind: 'named', name: `column${i + 1}` })),
        };
      }
      case 'compound': {
        const left = this.compileQuery(query.left, outer);
        const right = this.compileQuery(query.right, outer);
        if (left.columns.length !== right.columns.length) throw new SqlError(`Number of columns do not match: ${query.op.toUpperCase()}`, query.pos);
        const op = { union: 'UNION', 'union all': 'UNION ALL', intersect: 'INTERSECT', except: 'EXCEPT' }[query.op];
        const names = left.columns.map((_, i) => ({ name: left.columns[i].kind === 'named' ? (left.columns[i] as { name: string }).name : '*', sql: `c${i}` }));
        const scope: Scope = { ranges: [], parent: outer, outputs: names };
        const order = this.orderBy(query.orderBy, scope, names, true);
        return {
          sql: `(${left.sql}) ${op} (${right.sql})${order}${this.limits(query.limit, query.offset, cap)}`,
          columns: left.columns,
        };
      }
    }
  }

  private select(select: Select, outer: Scope | undefined, cap?: number): { sql: string; columns: OutputColumn[] } {
    const scope: Scope = { ranges: [], parent: outer };
    const from = select.from.map((item) => this.fromItem(item, scope)).join(', ');
    const grouped = select.groupBy.length > 0 || select.items.some((i) => i.kind === 'expr' && hasAggregate(i.expr)) || (select.having !== undefined);
    scope.grouped = grouped;
    const columns: OutputColumn[] = [];
    const sqlItems: string[] = [];
    const outputs: { name: string; sql: string }[] = [];
    select.items.forEach((item, i) => {
      if (item.kind === 'star') {
        if (grouped) throw new SqlError('Cannot use * with GROUP BY or aggregates', item.pos);
        sqlItems.push(`${this.star(item, scope)} AS c${sqlItems.length}`);
        columns.push({ kind: 'star' });
        return;
      }
      const name = item.alias ?? columnName(item, i);
      const sql = this.value(item.expr, scope);
      outputs.push({ name, sql });
      sqlItems.push(`${sql} AS c${sqlItems.length}`);
      columns.push({ kind: 'named', name });
    });
    const where = select.where ? ` WHERE ${this.where(select.where, scope)}` : '';
    if (select.where && hasAggregate(select.where)) throw new SqlError('Cannot use aggregate functions in WHERE', select.pos);
    const groupBy = select.groupBy.length > 0 ? ` GROUP BY ${select.groupBy.map((e) => this.groupKey(e, scope, outputs)).join(', ')}` : '';
    const having = select.having ? ` HAVING ${this.cond(select.having, scope)}` : '';
    const order = this.orderBy(select.orderBy, { ...scope, outputs }, outputs.map((o, i) => ({ ...o, sql: select.distinct ? `c${indexOfNamed(columns, i)}` : o.sql })), select.distinct);
    const sql = `SELECT ${select.distinct ? 'DISTINCT ' : ''}${sqlItems.join(', ') || 'NULL::jsonb AS c0'}${from ? ` FROM ${from}` : ''}${where}${groupBy}${having}${order}${this.limits(select.limit, select.offset, cap)}`;
    return { sql, columns };
  }

  private groupKey(e: Expr, scope: Scope, outputs: readonly { name: string; sql: string }[]): string {
    if (e.kind === 'literal' && typeof e.value === 'number' && Number.isInteger(e.value)) {
      const out = outputs[e.value - 1];
      if (!out) throw new SqlError(`GROUP BY position out of range: ${e.value}`, e.pos);
      return out.sql;
    }
    return this.value(e, { ...scope, grouped: false });
  }

  private orderBy(items: readonly OrderItem[], scope: Scope, outputs: readonly { name: string; sql: string }[], byOutputOnly: boolean): string {
    if (items.length === 0) return '';
    const parts = items.map(({ expr, descending, nulls }) => {
      let sql: string | undefined;
      if (expr.kind === 'literal' && typeof expr.value === 'number' && Number.isInteger(expr.value)) {
        sql = outputs[expr.value - 1]?.sql;
        if (!sql) throw new SqlError(`Cannot resolve ORDER BY column: ${expr.value}`, expr.pos, 'Cannot resolve ORDER BY column');
      } else if (expr.kind === 'ident' && expr.parts.length === 1) {
        sql = outputs.find((o) => o.name === expr.parts[0])?.sql;
      }
      if (!sql) {
        if (byOutputOnly) throw new SqlError(`Cannot resolve ORDER BY column: ${describe(expr)}`, expr.pos, 'Cannot resolve ORDER BY column');
        sql = this.value(expr, scope);
      }
      return `${sql}${descending ? ' DESC' : ' ASC'}${nulls ? ` NULLS ${nulls.toUpperCase()}` : descending ? ' NULLS LAST' : ' NULLS FIRST'}`;
    });
    return ` ORDER BY ${parts.join(', ')}`;
  }

  private limits(limit: Expr | undefined, offset: Expr | undefined, cap: number | undefined): string {
    const empty: Scope = { ranges: [] };
    const count = (e: Expr) => `(tl_num(${this.value(e, empty)}))::bigint`;
    let out = '';
    if (limit && cap !== undefined) out += ` LIMIT least(${count(limit)}, ${this.bag.add(cap, 'bigint')})`;
    else if (limit) out += ` LIMIT ${count(limit)}`;
    else if (cap !== undefined) out += ` LIMIT ${this.bag.add(cap, 'bigint')}`;
    if (offset) out += ` OFFSET ${count(offset)}`;
    return out;
  }

  private star(item: Extract<SelectItem, { kind: 'star' }>, scope: Scope): string {
    if (item.table) {
      const range = scope.ranges.find((r) => r.name === item.table);
      if (!range) throw new SqlError(`Unknown table: ${item.table}`, item.pos, 'Unknown table');
      return `${range.sql}.doc`;
    }
    if (scope.ranges.length === 0) throw new SqlError('SELECT * requires a FROM clause', item.pos);
    if (scope.ranges.length === 1) return `${scope.ranges[0].sql}.doc`;
    // Later tables' columns win, as a join's columns do in Endb.
    return `(${scope.ranges.map((r) => `COALESCE(${r.sql}.doc, '{}'::jsonb)`).join(' || ')})`;
  }

  private fromItem(item: FromItem, scope: Scope): string {
    switch (item.kind) {
      case 'table': {
        const { sql, range } = this.tableRange(item.name, item.alias ?? item.name, item.systemTime, item.pos, item.schema);
        scope.ranges.push(range);
        return sql;
      }
      case 'subquery': {
        const inner = this.compileQuery(item.query, scope.parent);
        const alias = this.alias();
        const named = inner.columns.flatMap((c, i) => (c.kind === 'named' ? [`${this.bag.text(c.name)}, q.c${i}`] : []));
        const stars = inner.columns.flatMap((c, i) => (c.kind === 'star' ? [`COALESCE(q.c${i}, '{}'::jsonb)`] : []));
        const doc = [...stars, `jsonb_strip_nulls(jsonb_build_object(${named.join(', ')}))`].join(' || ');
        const columns = inner.columns.some((c) => c.kind === 'star') ? 'any' : new Set(inner.columns.map((c) => (c as { name: string }).name));
        scope.ranges.push({ name: item.alias, sql: alias, columns, temporal: false });
        return `(SELECT NULL::text AS row_id, ${doc} AS doc, now() AS sys_from, 'infinity'::timestamptz AS sys_to FROM (${inner.sql}) q) ${alias}`;
      }
      case 'join': {
        const left = this.fromItem(item.left, scope);
        const right = this.fromItem(item.right, scope);
        if (item.type === 'cross') return `${left} CROSS JOIN ${right}`;
        const on = item.on ? this.cond(item.on, scope) : 'true';
        return `${left} ${item.type === 'left' ? 'LEFT JOIN' : 'JOIN'} ${right} ON ${on}`;
      }
    }
  }

  private tableRange(name: string, visible: string, systemTime: SystemTime | undefined, pos: Span, schema?: string): { sql: string; range: Range } {
    const alias = this.alias();
    if (schema === 'information_schema') {
      const columns = INFORMATION_SCHEMA_COLUMNS[name];
      if (!columns) throw new SqlError(`Unknown table: information_schema.${name}`, pos, 'Unknown table');
      const sql =
        name === 'tables'
          ? `(SELECT tbl AS row_id, jsonb_build_object('table_schema', 'main', 'table_name', tbl, 'table_type', 'BASE TABLE') AS doc, created_at AS sys_from, 'infinity'::timestamptz AS sys_to FROM collection_tables)`
          : `(SELECT tbl || '.' || col AS row_id, jsonb_build_object('table_schema', 'main', 'table_name', tbl, 'column_name', col,
               'ordinal_position', row_number() OVER (PARTITION BY tbl ORDER BY col)) AS doc, now() AS sys_from, 'infinity'::timestamptz AS sys_to FROM collection_columns)`;
      return { sql: `${sql} ${alias}`, range: { name: visible === name ? name : visible, sql: alias, columns: new Set(columns), temporal: false } };
    }
    if (schema !== undefined) throw new SqlError(`Unknown table: ${schema}.${name}`, pos, 'Unknown table');
    const { snapshot, catalog } = this.options;
    const overlay = snapshot.kind === 'asOf' ? snapshot.overlay.get(name) : undefined;
    const known = catalog.get(name);
    if (!known && !(overlay && [...overlay.values()].some((d) => d !== null))) throw new SqlError(`Unknown table: ${name}`, pos, 'Unknown table');
    const columns = new Set(known ?? []);
    for (const doc of overlay?.values() ?? []) if (doc) for (const key of Object.keys(doc)) columns.add(key);
    const tbl = this.bag.text(name);
    const base = `SELECT row_id, doc, sys_from, sys_to FROM collection_rows WHERE tbl = ${tbl}`;
    let sql: string;
    if (systemTime) {
      const empty: Scope = { ranges: [] };
      const ts = (e: Expr) => `tl_ts(${this.value(e, empty)})`;
      switch (systemTime.kind) {
        case 'all':
          sql = base;
          break;
        case 'asOf':
          sql = `${base} AND sys_from <= ${ts(systemTime.at)} AND sys_to > ${ts(systemTime.at)}`;
          break;
        case 'between':
          sql = `${base} AND sys_from <= ${ts(systemTime.to)} AND sys_to > ${ts(systemTime.from)}`;
          break;
        case 'fromTo':
          sql = `${base} AND sys_from < ${ts(systemTime.to)} AND sys_to > ${ts(systemTime.from)}`;
          break;
      }
    } else if (snapshot.kind === 'current') {
      sql = `${base} AND ${CURRENT_ROWS}`;
    } else {
      const tick = snapshot.tick === null ? `'-infinity'::timestamptz` : this.bag.add(snapshot.tick, 'timestamptz');
      sql = `${base} AND sys_from <= ${tick} AND sys_to > ${tick}`;
      if (overlay && overlay.size > 0) {
        const own = this.bag.add(JSON.stringify(Object.fromEntries(overlay)), 'jsonb');
        sql = `${sql} AND NOT (${own} ? row_id)
          UNION ALL SELECT o.key, o.value, now(), 'infinity'::timestamptz FROM jsonb_each(${own}) o WHERE jsonb_typeof(o.value) = 'object'`;
      }
    }
    return { sql: `(${sql}) ${alias}`, range: { name: visible, sql: alias, columns, temporal: true } };
  }

  // ---- expressions: `value` compiles to jsonb, `cond` to boolean ----

  /** WHERE: top-level `column = scalar` conjuncts (but `id`'s) also test containment, which the GIN index answers. */
  private where(e: Expr, scope: Scope): string {
    if (e.kind === 'binary' && e.op === 'and') return `(${this.where(e.left, scope)} AND ${this.where(e.right, scope)})`;
    if (e.kind === 'binary' && e.op === '=' && e.left.kind === 'ident') {
      const scalar = this.scalarOf(e.right);
      const target = scalar !== undefined ? this.resolvePath(e.left, scope) : undefined;
      // `id` has a b-tree of its own (migration IndexRowIds): containment would only cost the planner a GIN path.
      const byId = target?.path.length === 1 && target.path[0] === 'id';
      if (target && !byId && target.path.length > 0 && target.path.every((p) => typeof p === 'string') && !target.special) {
        const probe = target.path.reduceRight<unknown>((inner, key) => ({ [key as string]: inner }), scalar);
        return `(${target.range.sql}.doc @> ${this.bag.json(probe)} AND ${this.cond(e, scope)})`;
      }
    }
    return this.cond(e, scope);
  }

  /** A literal or parameter whose value is a JSON scalar (not null), known when compiling. */
  private scalarOf(e: Expr): unknown {
    let v: unknown;
    if (e.kind === 'literal') v = e.value;
    else if (e.kind === 'param') v = this.peekParam(e);
    else return undefined;
    return typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v)) ? v : undefined;
  }

  cond(e: Expr, scope: Scope): string {
    switch (e.kind) {
      case 'binary':
        switch (e.op) {
          case 'and':
            return `(${this.cond(e.left, scope)} AND ${this.cond(e.right, scope)})`;
          case 'or':
            return `(${this.cond(e.left, scope)} OR ${this.cond(e.right, scope)})`;
          case '=':
            return `(${this.value(e.left, scope)} = ${this.value(e.right, scope)})`;
          case '<>':
            return `(${this.value(e.left, scope)} <> ${this.value(e.right, scope)})`;
          case '<':
          case '<=':
          case '>':
          case '>=':
            return `(tl_cmp(${this.value(e.left, scope)}, ${this.value(e.right, scope)}) ${COMPARISONS[e.op]})`;
          case 'like':
          case 'not like':
            return `(tl_text(${this.value(e.left, scope)}) ${e.op === 'like' ? 'LIKE' : 'NOT LIKE'} tl_text(${this.value(e.right, scope)}))`;
          default:
            return `(${this.value(e, scope)} = 'true'::jsonb)`;
        }
      case 'unary':
        if (e.op === 'not') return `(NOT ${this.cond(e.operand, scope)})`;
        return `(${this.value(e, scope)} = 'true'::jsonb)`;
      case 'isNull': {
        const v = this.value(e.operand, scope);
        return e.negated ? `(${v} IS NOT NULL AND ${v} <> 'null'::jsonb)` : `(${v} IS NULL OR ${v} = 'null'::jsonb)`;
      }
      case 'in': {
        if (e.list.length === 0) return e.negated ? 'true' : 'false';
        return `(${this.value(e.operand, scope)} ${e.negated ? 'NOT IN' : 'IN'} (${e.list.map((x) => this.value(x, scope)).join(', ')}))`;
      }
      case 'inQuery': {
        const inner = this.compileQuery(e.query, scope);
        if (inner.columns.length !== 1) throw new SqlError('Subquery must return one column', e.pos);
        return `(${this.value(e.operand, scope)} ${e.negated ? 'NOT IN' : 'IN'} (SELECT s.c0 FROM (${inner.sql}) s))`;
      }
      case 'between': {
        const v = this.value(e.operand, scope);
        const inside = `(tl_cmp(${v}, ${this.value(e.low, scope)}) >= 0 AND tl_cmp(${v}, ${this.value(e.high, scope)}) <= 0)`;
        return e.negated ? `(NOT ${inside})` : inside;
      }
      case 'exists': {
        const inner = this.compileQuery(e.query, scope);
        return `EXISTS (${inner.sql})`;
      }
      case 'literal':
        if (e.value === true) return 'true';
        if (e.value === false) return 'false';
        if (e.value === null) return 'NULL::boolean';
        return `(${this.value(e, scope)} = 'true'::jsonb)`;
      default:
        return `(${this.value(e, scope)} = 'true'::jsonb)`;
    }
  }

  value(e: Expr, scope: Scope): string {
    switch (e.kind) {
      case 'literal':
        return this.literal(e.value);
      case 'param':
        return this.literal(this.param(e) as never);
      case 'ident':
      case 'access':
        return this.path(e, scope);
      case 'unary':
        if (e.op === 'not') return `to_jsonb(${this.cond(e, scope)})`;
        if (e.op === '+') return this.value(e.operand, scope);
        return `tl_arith('-', '0'::jsonb, ${this.value(e.operand, scope)})`;
      case 'binary':
        if (e.op in ARITHMETIC) return `tl_arith(${ARITHMETIC[e.op]}, ${this.value(e.left, scope)}, ${this.value(e.right, scope)})`;
        if (e.op === '||') return `tl_concat(${this.value(e.left, scope)}, ${this.value(e.right, scope)})`;
        return `to_jsonb(${this.cond(e, scope)})`;
      case 'isNull':
      case 'in':
      case 'inQuery':
      case 'between':
      case 'exists':
        return `to_jsonb(${this.cond(e, scope)})`;
      case 'call':
        return this.call(e, scope);
      case 'object': {
        const parts: string[] = [];
        let pairs: string[] = [];
        const flush = () => {
          if (pairs.length > 0) parts.push(`jsonb_build_object(${pairs.join(', ')})`);
          pairs = [];
        };
        for (const entry of e.entries) {
          if ('spread' in entry) {
            flush();
            parts.push(`COALESCE(${this.value(entry.spread, scope)}, '{}'::jsonb)`);
          } else {
            pairs.push(`${this.bag.text(entry.key)}, ${this.value(entry.value, scope)}`);
          }
        }
        flush();
        return parts.length === 0 ? `'{}'::jsonb` : `(${parts.join(' || ')})`;
      }
      case 'array':
        return `jsonb_build_array(${e.items.map((i) => this.value(i, scope)).join(', ')})`;
      case 'case': {
        const operand = e.operand ? this.value(e.operand, scope) : undefined;
        const whens = e.whens.map(({ when, then }) => `WHEN ${operand ? `${operand} = ${this.value(when, scope)}` : this.cond(when, scope)} THEN ${this.value(then, scope)}`);
        return `(CASE ${whens.join(' ')}${e.else ? ` ELSE ${this.value(e.else, scope)}` : ''} END)`;
      }
      case 'subquery': {
        const inner = this.compileQuery(e.query, scope);
        if (inner.columns.length !== 1) throw new SqlError('Scalar subquery must return one column', e.pos);
        return `(SELECT s.c0 FROM (${inner.sql}) s LIMIT 1)`;
      }
    }
  }

  private literal(value: unknown): string {
    if (value === null || value === undefined) return 'NULL::jsonb';
    if (typeof value === 'bigint') return this.bag.add(value.toString(), 'jsonb');
    if (typeof value === 'object' && !Array.isArray(value) && '@type' in (value as object) && '@value' in (value as object)) return `tl_norm(${this.bag.json(value)})`;
    return this.bag.json(value);
  }

  private peekParam(e: Extract<Expr, { kind: 'param' }>): unknown {
    const { positional, named } = this.userParams;
    if (e.name !== undefined) return named?.[e.name];
    return positional?.[e.index ?? 0];
  }

  private param(e: Extract<Expr, { kind: 'param' }>): unknown {
    const { positional, named } = this.userParams;
    if (e.name !== undefined) {
      if (!named || !Object.prototype.hasOwnProperty.call(named, e.name)) throw new SqlError(`Missing parameter: ${e.name}`, e.pos, 'Missing parameter');
      return named[e.name];
    }
    const index = e.index ?? this.positional++;
    if (!positional || index >= positional.length) throw new SqlError(`Missing parameter at index: ${index}`, e.pos, 'Missing parameter');
    return positional[index];
  }

  /** Resolves an identifier chain or access to (range, column path), without compiling it. */
  private resolvePath(e: Expr, scope: Scope): { range: Range; path: (string | number)[]; special?: 'system_time' } | undefined {
    if (e.kind !== 'ident') return undefined;
    let parts = [...e.parts];
    for (let s: Scope | undefined = scope; s; s = s.parent) {
      if (parts.length >= 2) {
        const range = s.ranges.find((r) => r.name === parts[0]);
        if (range) {
          parts = parts.slice(1);
          return this.checkColumn(range, parts, e.pos);
        }
      }
      const candidates = s.ranges.filter((r) => parts[0] === 'system_time' ? r.temporal : r.columns === 'any' || r.columns.has(parts[0]));
      if (candidates.length > 0) return this.checkColumn(candidates[0], parts, e.pos);
    }
    const shown = e.parts.join('.');
    if (e.parts.length >= 2 && !scope.ranges.some((r) => r.name === e.parts[0])) {
      const known = allRanges(scope).some((r) => r.columns === 'any' || (r.columns as ReadonlySet<string>).has(e.parts[0]));
      if (!known) throw new SqlError(`Unknown column: ${shown}`, e.pos, 'Unknown column');
    }
    throw new SqlError(`Unknown column: ${shown}`, e.pos, 'Unknown column');
  }

  private checkColumn(range: Range, path: string[], pos: Span): { range: Range; path: (string | number)[]; special?: 'system_time' } {
    if (path[0] === 'system_time' && range.temporal) return { range, path: path.slice(1), special: 'system_time' };
    if (range.columns !== 'any' && !range.columns.has(path[0])) throw new SqlError(`Unknown column: ${range.name}.${path[0]}`, pos, 'Unknown column');
    return { range, path };
  }

  private path(e: Expr, scope: Scope): string {
    if (e.kind === 'access') {
      const base = this.value(e.base, scope);
      const key = e.key;
      if (key.kind === 'literal' && typeof key.value === 'number' && Number.isInteger(key.value)) return `(${base} -> ${this.bag.add(key.value, 'int')})`;
      if (key.kind === 'literal' && typeof key.value === 'string') return `(${base} -> ${this.bag.text(key.value)})`;
      const k = this.value(key, scope);
      return `(CASE jsonb_typeof(${k}) WHEN 'number' THEN ${base} -> (tl_num(${k}))::int WHEN 'string' THEN ${base} -> (${k} #>> '{}') END)`;
    }
    if (e.kind !== 'ident') throw new Error('not a path');
    // An identifier that is no column but a SELECT alias (in HAVING, ORDER BY expressions).
    const resolved = this.resolveOrAlias(e, scope);
    if (typeof resolved === 'string') return resolved;
    const { range, path, special } = resolved;
    let sql = special === 'system_time' ? `tl_system_time(${range.sql}.sys_from, ${range.sql}.sys_to)` : `${range.sql}.doc`;
    for (const step of path) sql = `(${sql} -> ${typeof step === 'number' ? this.bag.add(step, 'int') : this.bag.text(step)})`;
    return sql;
  }

  private resolveOrAlias(e: Extract<Expr, { kind: 'ident' }>, scope: Scope): string | { range: Range; path: (string | number)[]; special?: 'system_time' } {
    try {
      return this.resolvePath(e, scope)!;
    } catch (error) {
      const alias = e.parts.length === 1 ? scope.outputs?.find((o) => o.name === e.parts[0]) : undefined;
      if (alias) return alias.sql;
      throw error;
    }
  }

  private call(e: Extract<Expr, { kind: 'call' }>, scope: Scope): string {
    const args = () => e.args.map((a) => this.value(a, scope));
    const one = () => {
      if (e.args.length !== 1) throw new SqlError(`Function ${e.name} takes one argument`, e.pos);
      return this.value(e.args[0], scope);
    };
    if (AGGREGATES.has(e.name)) {
      if (e.args.some(hasAggregate)) throw new SqlError(`Cannot nest aggregate functions: ${e.name.toUpperCase()}`, e.pos, 'Cannot nest aggregate functions');
      const distinct = e.distinct ? 'DISTINCT ' : '';
      switch (e.name) {
        case 'count':
          return e.star ? 'to_jsonb(count(*))' : `to_jsonb(count(${distinct}${one()}))`;
        case 'sum':
          return `to_jsonb(sum(${distinct}tl_num(${one()})))`;
        case 'total':
          return `to_jsonb(COALESCE(sum(${distinct}tl_num(${one()})), 0))`;
        case 'avg':
          return `to_jsonb((avg(${distinct}tl_num(${one()})))::float8)`;
        case 'min':
          return `tl_min(${one()})`;
        case 'max':
          return `tl_max(${one()})`;
        case 'array_agg':
          return `COALESCE(jsonb_agg(${distinct}${one()}), '[]'::jsonb)`;
        default: {
          const [v, sep] = args();
          return `to_jsonb(string_agg(${distinct}tl_text(${v}), COALESCE(tl_text(${sep ?? `'","'::jsonb`}), ',')))`;
        }
      }
    }
    switch (e.name) {
      case 'coalesce':
      case 'ifnull':
        return `COALESCE(${args().join(', ')})`;
      case 'nullif': {
        const [a, b] = args();
        return `NULLIF(${a}, ${b})`;
      }
      case 'lower':
      case 'upper':
      case 'trim':
        return `to_jsonb(${e.name}(tl_text(${one()})))`;
      case 'length':
      case 'cardinality':
        return `tl_length(${one()})`;
      case 'abs':
        return `to_jsonb(abs(tl_num(${one()})))`;
      case 'round': {
        const [v, digits] = args();
        return `to_jsonb(round(tl_num(${v}), COALESCE((tl_num(${digits ?? 'NULL::jsonb'}))::int, 0)))`;
      }
      case 'substring':
      case 'substr': {
        const [v, from, count] = args();
        return count
          ? `to_jsonb(substr(tl_text(${v}), (tl_num(${from}))::int, (tl_num(${count}))::int))`
          : `to_jsonb(substr(tl_text(${v}), (tl_num(${from}))::int))`;
      }
      case 'concat':
        return `to_jsonb(concat(${args().map((a) => `tl_text(${a})`).join(', ')}))`;
      case 'typeof':
        return `to_jsonb(CASE WHEN jsonb_typeof(${one()}) = 'object' AND ${one()} ? '@type' THEN ${one()}->>'@type' ELSE jsonb_typeof(${one()}) END)`;
      case 'object_keys':
        return `(SELECT COALESCE(jsonb_agg(k ORDER BY k), '[]'::jsonb) FROM jsonb_object_keys(${one()}) k)`;
      case 'current_timestamp':
      case 'now':
        return 'tl_dt(now())';
      case 'current_date':
        return `jsonb_build_object('@type', 'xsd:date', '@value', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD'))`;
      case 'current_time':
        return `jsonb_build_object('@type', 'xsd:time', '@value', to_char(now() AT TIME ZONE 'UTC', 'HH24:MI:SS.US'))`;
      case 'cast': {
        const target = e.args[1]?.kind === 'literal' ? String(e.args[1].value).toLowerCase() : '';
        const v = this.value(e.args[0], scope);
        if (['integer', 'int', 'bigint', 'smallint'].includes(target))
          return `to_jsonb(trunc(COALESCE(tl_num(${v}), CASE WHEN jsonb_typeof(${v}) = 'string' THEN (${v} #>> '{}')::numeric END)))`;
        if (['real', 'double', 'float', 'decimal', 'numeric'].includes(target))
          return `to_jsonb(COALESCE(tl_num(${v}), CASE WHEN jsonb_typeof(${v}) = 'string' THEN (${v} #>> '{}')::numeric END))`;
        if (['text', 'varchar', 'string', 'char'].includes(target)) return `to_jsonb(tl_text(${v}))`;
        if (target === 'timestamp') return `tl_dt(tl_ts(${v}))`;
        if (target === 'date') return `jsonb_build_object('@type', 'xsd:date', '@value', to_char(tl_ts(${v}) AT TIME ZONE 'UTC', 'YYYY-MM-DD'))`;
        throw new SqlError(`Unknown type: ${target}`, e.pos);
      }
      default:
        throw new SqlError(`Unknown built-in function: ${e.name}`, e.pos, 'Unknown built-in function');
    }
  }
}

function allRanges(scope: Scope): Range[] {
  return scope.parent ? [...scope.ranges, ...allRanges(scope.parent)] : scope.ranges;
}

function indexOfNamed(columns: readonly OutputColumn[], namedIndex: number): number {
  let seen = -1;
  for (let i = 0; i < columns.length; i++) if (columns[i].kind === 'named' && ++seen === namedIndex) return i;
  return namedIndex;
}

/** Endb's names: the alias, a column's (or path's) last step, a named parameter's name, else columnN. */
export function columnName(item: Extract<SelectItem, { kind: 'expr' }>, index: number): string {
  const e = item.expr;
  if (e.kind === 'ident') return e.parts[e.parts.length - 1];
  if (e.kind === 'access' && e.key.kind === 'literal' && typeof e.key.value === 'string') return e.key.value;
  if (e.kind === 'param' && e.name !== undefined) return e.name;
  return `column${index + 1}`;
}

function describe(e: Expr): string {
  if (e.kind === 'ident') return e.parts.join('.');
  if (e.kind === 'literal') return String(e.value);
  return e.kind;
}

export function hasAggregate(e: Expr): boolean {
  switch (e.kind) {
    case 'call':
      return AGGREGATES.has(e.name) || e.args.some(hasAggregate);
    case 'unary':
      return hasAggregate(e.operand);
    case 'binary':
      return hasAggregate(e.left) || hasAggregate(e.right);
    case 'isNull':
      return hasAggregate(e.operand);
    case 'in':
      return hasAggregate(e.operand) || e.list.some(hasAggregate);
    case 'inQuery':
      return hasAggregate(e.operand);
    case 'between':
      return hasAggregate(e.operand) || hasAggregate(e.low) || hasAggregate(e.high);
    case 'access':
      return hasAggregate(e.base) || hasAggregate(e.key);
    case 'object':
      return e.entries.some((x) => ('spread' in x ? hasAggregate(x.spread) : hasAggregate(x.value)));
    case 'array':
      return e.items.some(hasAggregate);
    case 'case':
      return (e.operand ? hasAggregate(e.operand) : false) || e.whens.some((w) => hasAggregate(w.when) || hasAggregate(w.then)) || (e.else ? hasAggregate(e.else) : false);
    default:
      return false;
  }
}

const NOT_INLINE = Symbol('not inline');

function inlineAll(items: readonly Expr[], one: (e: Expr) => unknown): unknown[] | typeof NOT_INLINE {
  const out: unknown[] = [];
  for (const item of items) {
    const v = one(item);
    if (v === NOT_INLINE) return NOT_INLINE;
    out.push(v);
  }
  return out;
}

/** Strings jsonb takes and gives back as they are: no NUL (refused), no surrogates (lone ones are refused). */
function plainString(s: string): boolean {
  return !/[\u0000\ud800-\udfff]/.test(s);
}

/** A literal's or parameter's value as `literal()` would store it, if that is the value itself. */
function inlineScalar(value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value === 'object' && !Array.isArray(value) && '@type' in value && '@value' in value) return NOT_INLINE; // tl_norm
  return plainJson(value) ? value : NOT_INLINE;
}

function plainJson(value: unknown): boolean {
  switch (typeof value) {
    case 'boolean':
      return true;
    case 'number':
      // jsonb gives an integer beyond 2^53 back as digits that parseJsonText reads as xsd:integer
      // (and -0 comes back 0)
      return Number.isFinite(value) && (!Number.isInteger(value) || Number.isSafeInteger(value)) && !Object.is(value, -0);
    case 'string':
      return plainString(value);
    case 'object':
      if (value === null) return true;
      if (Array.isArray(value)) return value.every(plainJson);
      if (Object.getPrototypeOf(value) !== Object.prototype) return false;
      return Object.entries(value).every(([k, v]) => plainString(k) && plainJson(v));
    default:
      return false; // bigint, undefined inside, functions…
  }
}

/** Every base table a statement names (to load their catalog entries before compiling). */
export function tablesOf(statement: Statement): Set<string> {
  const out = tablesReadBy(statement);
  if (statement.kind === 'insert' || statement.kind === 'update' || statement.kind === 'delete' || statement.kind === 'erase') out.add(statement.table);
  return out;
}

/**
 * The base tables a statement reads: every table named in a FROM, wherever it sits (subqueries in any
 * expression, an INSERT's rows, SET values, ON CONFLICT), and the table an UPDATE, DELETE or ERASE matches
 * rows of. An INSERT's target is not read unless named in it again; an INSERT reading none is blind.
 */
export function tablesReadBy(statement: Statement): Set<string> {
  const out = new Set<string>();
  const exprs = (list: readonly (Expr | undefined)[]): void => list.forEach((e) => e && expr(e));
  const query = (q: Query): void => {
    switch (q.kind) {
      case 'compound':
        query(q.left);
        query(q.right);
        exprs([...q.orderBy.map((o) => o.expr), q.limit, q.offset]);
        break;
      case 'values':
        q.rows.forEach(exprs);
        break;
      case 'select':
        q.from.forEach(from);
        q.items.forEach((i) => i.kind === 'expr' && expr(i.expr));
        exprs([q.where, q.having, ...q.groupBy, ...q.orderBy.map((o) => o.expr), q.limit, q.offset]);
        break;
    }
  };
  const from = (f: FromItem): void => {
    switch (f.kind) {
      case 'table': {
        if (f.schema === undefined) out.add(f.name);
        const st = f.systemTime;
        if (st?.kind === 'asOf') expr(st.at);
        else if (st && st.kind !== 'all') exprs([st.from, st.to]);
        break;
      }
      case 'subquery':
        query(f.query);
        break;
      case 'join':
        from(f.left);
        from(f.right);
        if (f.on) expr(f.on);
        break;
    }
  };
  const expr = (e: Expr): void => {
    switch (e.kind) {
      case 'literal':
      case 'param':
      case 'ident':
        return;
      case 'subquery':
      case 'exists':
        return query(e.query);
      case 'inQuery':
        expr(e.operand);
        return query(e.query);
      case 'access':
        return exprs([e.base, e.key]);
      case 'unary':
      case 'isNull':
        return expr(e.operand);
      case 'binary':
        return exprs([e.left, e.right]);
      case 'in':
        return exprs([e.operand, ...e.list]);
      case 'between':
        return exprs([e.operand, e.low, e.high]);
      case 'call':
        return exprs(e.args);
      case 'object':
        return exprs(e.entries.map((entry) => ('spread' in entry ? entry.spread : entry.value)));
      case 'array':
        return exprs(e.items);
      case 'case':
        return exprs([e.operand, ...e.whens.flatMap((w) => [w.when, w.then]), e.else]);
    }
  };
  switch (statement.kind) {
    case 'select':
    case 'compound':
    case 'values':
      query(statement);
      break;
    case 'insert': {
      const { source, onConflict } = statement;
      if (source.kind === 'query') query(source.query);
      else if (source.kind === 'values') source.rows.forEach(exprs);
      else exprs(source.rows);
      if (onConflict) {
        // DO UPDATE/NOTHING looks the target's rows up by the conflict columns.
        out.add(statement.table);
        if (onConflict.action.kind === 'update') exprs([...onConflict.action.set.map((a) => a.value), onConflict.action.where]);
      }
      break;
    }
    case 'update':
      out.add(statement.table);
      exprs([...statement.set.map((a) => a.value), statement.patch, statement.where]);
      break;
    case 'delete':
    case 'erase':
      out.add(statement.table);
      if (statement.where) expr(statement.where);
      break;
  }
  return out;
}
