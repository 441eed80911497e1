import type { Catalog } from '../query/compiler.js';

/**
 * The columns last seen of each table, to compile a read before its round trip. Never trusted alone: the
 * read fetches the catalog in its own snapshot and, when that differs from what it compiled with, compiles
 * again. Bounded by tables and by the bytes of the column names it holds; the oldest entries go first.
 */
export class CatalogCache {
  private readonly tables = new Map<string, { columns: ReadonlySet<string>; bytes: number }>();
  private bytes = 0;

  constructor(
    private readonly maxTables = 1000,
    private readonly maxBytes = 4 * 1024 * 1024,
  ) {}

  /** The catalog of every table in `names`, or undefined when one of them is not held. */
  get(names: readonly string[]): Catalog | undefined {
    const catalog = new Map<string, ReadonlySet<string>>();
    for (const name of names) {
      const entry = this.tables.get(name);
      if (!entry) return undefined;
      catalog.set(name, entry.columns);
    }
    return catalog as Catalog;
  }

  /** Holds what a read found; a table `names` asked for that `found` lacks is forgotten (it was dropped). */
  remember(names: readonly string[], found: Catalog): void {
    for (const name of names) this.forget(name);
    for (const [name, columns] of found) {
      let bytes = name.length;
      for (const c of columns) bytes += c.length + 16;
      if (bytes > this.maxBytes) continue;
      this.tables.set(name, { columns, bytes });
      this.bytes += bytes;
    }
    for (const [name] of this.tables) {
      if (this.tables.size <= this.maxTables && this.bytes <= this.maxBytes) break;
      this.forget(name);
    }
  }

  private forget(name: string): void {
    const entry = this.tables.get(name);
    if (!entry) return;
    this.bytes -= entry.bytes;
    this.tables.delete(name);
  }
}

/** Whether two catalogs name the same tables with the same columns. */
export function sameCatalog(a: Catalog, b: Catalog): boolean {
  if (a.size !== b.size) return false;
  for (const [name, columns] of a) {
    const other = b.get(name);
    if (!other || other.size !== columns.size) return false;
    for (const c of columns) if (!other.has(c)) return false;
  }
  return true;
}
