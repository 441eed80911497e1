/** What a bounded context adds to the database: its TypeORM entities and the migrations that make their tables. */
export type ContextSchema = Readonly<{ entities?: readonly Function[]; migrations?: readonly Function[] }>;

const registered = new Set<ContextSchema>();

/**
 * Contexts declare their schema when their module is defined (`DatabaseModule.forFeature`), which is
 * before the database opens; the database then runs the core's migrations and every context's, in the
 * order of their timestamps (TypeORM orders migrations by the number in their name).
 */
export function registerContextSchema(schema: ContextSchema): void {
  registered.add(schema);
}

export function contextSchemas(): ContextSchema {
  const entities = new Set<Function>();
  const migrations = new Set<Function>();
  for (const schema of registered) {
    schema.entities?.forEach((e) => entities.add(e));
    schema.migrations?.forEach((m) => migrations.add(m));
  }
  return { entities: [...entities], migrations: [...migrations] };
}
