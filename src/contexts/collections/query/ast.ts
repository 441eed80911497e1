/**
 * The collections query language: an Endb-compatible SQL dialect as a tree. Dialects parse their text into
 * it; the context compiles it to parameterized PostgreSQL over its read model. Every node carries the span
 * of source it came from (`pos`), so errors can point at it.
 */

/** Where a node sits in the statement's text: offset and length in UTF-16 code units. */
export type Span = Readonly<{ offset: number; length: number }>;

/** A typed scalar that JSON cannot carry, held as its JSON-LD form (`{"@type": "xsd:date", "@value": "2024-01-01"}`). */
export type TypedScalarType = 'xsd:dateTime' | 'xsd:date' | 'xsd:time' | 'xsd:duration' | 'xsd:base64Binary' | 'xsd:integer';
export type TypedScalar = Readonly<{ '@type': TypedScalarType; '@value': string }>;

/** A literal value: JSON, or a typed scalar. */
export type LiteralValue = null | boolean | number | string | TypedScalar;

export type BinaryOperator =
  | '='
  | '<>'
  | '<'
  | '<='
  | '>'
  | '>='
  | 'and'
  | 'or'
  | '+'
  | '-'
  | '*'
  | '/'
  | '%'
  | '||'
  | 'like'
  | 'not like';

export type Expr =
  | Readonly<{ kind: 'literal'; value: LiteralValue; pos: Span }>
  /** `?` (index counts from 0, in order of appearance) or `:name`. */
  | Readonly<{ kind: 'param'; index?: number; name?: string; pos: Span }>
  /** `a`, `t.a`, `a.b.c`: resolved against the tables in scope by the compiler (a table alias, else a path). */
  | Readonly<{ kind: 'ident'; parts: readonly string[]; pos: Span }>
  /** `e['key']`, `e[0]`, `e[-1]`, `e.key` after a non-identifier. */
  | Readonly<{ kind: 'access'; base: Expr; key: Expr; pos: Span }>
  | Readonly<{ kind: 'unary'; op: 'not' | '-' | '+'; operand: Expr; pos: Span }>
  | Readonly<{ kind: 'binary'; op: BinaryOperator; left: Expr; right: Expr; pos: Span }>
  | Readonly<{ kind: 'isNull'; operand: Expr; negated: boolean; pos: Span }>
  | Readonly<{ kind: 'in'; operand: Expr; list: readonly Expr[]; negated: boolean; pos: Span }>
  | Readonly<{ kind: 'inQuery'; operand: Expr; query: Query; negated: boolean; pos: Span }>
  | Readonly<{ kind: 'between'; operand: Expr; low: Expr; high: Expr; negated: boolean; pos: Span }>
  /** A function or aggregate: `count(*)` has `star`; `count(DISTINCT a)` has `distinct`. Names are lower case. */
  | Readonly<{ kind: 'call'; name: string; args: readonly Expr[]; star?: boolean; distinct?: boolean; pos: Span }>
  | Readonly<{ kind: 'object'; entries: readonly ObjectEntry[]; pos: Span }>
  | Readonly<{ kind: 'array'; items: readonly Expr[]; pos: Span }>
  | Readonly<{ kind: 'case'; operand?: Expr; whens: readonly { when: Expr; then: Expr }[]; else?: Expr; pos: Span }>
  | Readonly<{ kind: 'subquery'; query: Query; pos: Span }>
  | Readonly<{ kind: 'exists'; query: Query; pos: Span }>;

/** `{a: 1}`, `{'a b': 1}`, `{a}` (shorthand for `{a: a}`), `{...e}` (spread). */
export type ObjectEntry = Readonly<{ key: string; value: Expr }> | Readonly<{ spread: Expr }>;

export type SelectItem = Readonly<{ kind: 'star'; table?: string; pos: Span }> | Readonly<{ kind: 'expr'; expr: Expr; alias?: string; pos: Span }>;

export type SystemTime =
  | Readonly<{ kind: 'asOf'; at: Expr }>
  | Readonly<{ kind: 'all' }>
  | Readonly<{ kind: 'between'; from: Expr; to: Expr }>
  | Readonly<{ kind: 'fromTo'; from: Expr; to: Expr }>;

export type FromItem =
  | Readonly<{ kind: 'table'; name: string; schema?: string; alias?: string; systemTime?: SystemTime; pos: Span }>
  | Readonly<{ kind: 'subquery'; query: Query; alias: string; pos: Span }>
  | Readonly<{ kind: 'join'; type: 'inner' | 'left' | 'cross'; left: FromItem; right: FromItem; on?: Expr; pos: Span }>;

export type OrderItem = Readonly<{ expr: Expr; descending: boolean; nulls?: 'first' | 'last' }>;

export type Select = Readonly<{
  kind: 'select';
  distinct: boolean;
  items: readonly SelectItem[];
  from: readonly FromItem[];
  where?: Expr;
  groupBy: readonly Expr[];
  having?: Expr;
  orderBy: readonly OrderItem[];
  limit?: Expr;
  offset?: Expr;
  pos: Span;
}>;

export type Compound = Readonly<{
  kind: 'compound';
  op: 'union' | 'union all' | 'intersect' | 'except';
  left: Query;
  right: Query;
  orderBy: readonly OrderItem[];
  limit?: Expr;
  offset?: Expr;
  pos: Span;
}>;

/** `VALUES (1, 2), (3, 4)` as a query: columns column1, column2, … */
export type Values = Readonly<{ kind: 'values'; rows: readonly (readonly Expr[])[]; pos: Span }>;

export type Query = Select | Compound | Values;

/** A column (or a path into one) that SET, UNSET or ON CONFLICT names. */
export type ColumnPath = Readonly<{ path: readonly (string | number)[]; pos: Span }>;
export type Assignment = Readonly<{ target: ColumnPath; value: Expr }>;

export type InsertSource =
  | Readonly<{ kind: 'values'; rows: readonly (readonly Expr[])[] }>
  /** `INSERT INTO t {a: 1}, {…}` and `INSERT INTO t OBJECTS ?`: each expression is a document. */
  | Readonly<{ kind: 'objects'; rows: readonly Expr[] }>
  | Readonly<{ kind: 'query'; query: Query }>;

export type OnConflict = Readonly<{ columns: readonly string[]; action: Readonly<{ kind: 'nothing' }> | Readonly<{ kind: 'update'; set: readonly Assignment[]; where?: Expr }> }>;

export type Insert = Readonly<{ kind: 'insert'; table: string; columns?: readonly string[]; source: InsertSource; onConflict?: OnConflict; pos: Span; tablePos: Span }>;

export type Update = Readonly<{
  kind: 'update';
  table: string;
  alias?: string;
  set: readonly Assignment[];
  unset: readonly ColumnPath[];
  patch?: Expr;
  where?: Expr;
  pos: Span;
  tablePos: Span;
}>;

export type Delete = Readonly<{ kind: 'delete'; table: string; alias?: string; where?: Expr; pos: Span; tablePos: Span }>;
/** Removes rows from history as well as from the present. */
export type Erase = Readonly<{ kind: 'erase'; table: string; alias?: string; where?: Expr; pos: Span; tablePos: Span }>;

export type TransactionControl = Readonly<{ kind: 'begin' | 'commit' | 'rollback'; pos: Span }>;

export type Write = Insert | Update | Delete | Erase;
export type Statement = Query | Write | TransactionControl;

export function isQuery(statement: Statement): statement is Query {
  return statement.kind === 'select' || statement.kind === 'compound' || statement.kind === 'values';
}

export function isWrite(statement: Statement): statement is Write {
  return statement.kind === 'insert' || statement.kind === 'update' || statement.kind === 'delete' || statement.kind === 'erase';
}
