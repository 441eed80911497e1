import { readFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { parse as parseYaml } from 'yaml';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

export type Verb = 'c' | 'r' | 'u' | 'd';
export const VERBS: readonly Verb[] = ['c', 'r', 'u', 'd'];

/** Every document has these; a model may not declare them. */
export const METADATA_FIELDS = ['_id', '_owner_id', '_deleted', 'createdAt', 'updatedAt'] as const;
const METADATA_TYPES: Record<string, string> = { _id: 'string', _owner_id: 'string', _deleted: 'boolean', createdAt: 'string', updatedAt: 'string' };

/** The built-in model of users (its routes belong to the identity side). */
export const USER_MODEL_NAME = 'user';

export type FieldSpec = Readonly<{ name: string; schema: Record<string, unknown>; ref?: string; default?: unknown; type?: string }>;

export type Model = Readonly<{
  name: string;
  fields: ReadonlyMap<string, FieldSpec>;
  required: readonly string[];
  /** Role or group name → the verbs it grants. */
  perms: Readonly<Record<string, string>>;
  /** Validates a whole document's declared fields (nulls removed first). */
  validate: ValidateFunction;
  /** The file's own entry, for GET /model. */
  declared: Readonly<Record<string, unknown>>;
}>;

export type Models = ReadonlyMap<string, Model>;

/** A models file that cannot be used: the boot stops with this, naming the model and field. */
export class ModelsFileError extends Error {
  override readonly name = 'ModelsFileError';
}

const NAME = /^[A-Za-z][A-Za-z0-9_]{0,62}$/;
const FIELD = /^[A-Za-z][A-Za-z0-9_]{0,62}$/;
const MODEL_KEYS = new Set(['fields', 'required', 'perms']);

/** Reads MODELS_FILE: YAML when it ends in .yml/.yaml, else JSON. */
export function loadModelsFile(path: string): Models {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ModelsFileError(`MODELS_FILE ${path}: cannot be read (${(error as Error).message})`);
  }
  let raw: unknown;
  try {
    raw = /\.ya?ml$/i.test(path) ? parseYaml(text) : JSON.parse(text);
  } catch (error) {
    throw new ModelsFileError(`MODELS_FILE ${path}: not valid ${/\.ya?ml$/i.test(path) ? 'YAML' : 'JSON'} (${(error as Error).message})`);
  }
  return parseModels(raw, path);
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

export function parseModels(raw: unknown, source = 'MODELS_FILE'): Models {
  const fail = (message: string): never => {
    throw new ModelsFileError(`${source}: ${message}`);
  };
  if (!isObject(raw)) fail('must be an object of models');
  const ajv = new Ajv({ allErrors: false, strict: false, useDefaults: false });
  addFormats(ajv);
  const names = Object.keys(raw as object);
  const models = new Map<string, Model>();
  for (const name of names) {
    const entry = (raw as Record<string, unknown>)[name];
    const at = `model "${name}"`;
    if (!NAME.test(name)) fail(`${at}: a model name is letters, digits and _ (starting with a letter)`);
    if (name === USER_MODEL_NAME) fail(`${at}: "user" is the built-in model of users`);
    if (!isObject(entry)) fail(`${at}: must be an object with fields, required and perms`);
    const model = entry as Record<string, unknown>;
    for (const key of Object.keys(model)) if (!MODEL_KEYS.has(key)) fail(`${at}: unknown key "${key}" (expected fields, required, perms)`);
    if (!isObject(model.fields)) fail(`${at}: "fields" must be an object`);
    const fields = new Map<string, FieldSpec>();
    const properties: Record<string, unknown> = {};
    for (const [field, spec] of Object.entries(model.fields as Record<string, unknown>)) {
      const where = `${at}, field "${field}"`;
      if ((METADATA_FIELDS as readonly string[]).includes(field)) fail(`${where}: is a metadata field every document has`);
      if (!FIELD.test(field)) fail(`${where}: a field name is letters, digits and _ (starting with a letter)`);
      if (!isObject(spec)) fail(`${where}: must be a JSON Schema object`);
      const { ref, default: def, ...schema } = spec as Record<string, unknown>;
      if (ref !== undefined) {
        if (typeof ref !== 'string') fail(`${where}: "ref" must name a model`);
        if (ref !== USER_MODEL_NAME && !names.includes(ref as string)) fail(`${where}: "ref" names no model ("${String(ref)}")`);
      }
      let validate: ValidateFunction;
      try {
        validate = ajv.compile(schema);
      } catch (error) {
        return fail(`${where}: not a valid JSON Schema (${(error as Error).message})`);
      }
      if (def !== undefined && !validate(def)) fail(`${where}: "default" does not match the field's schema (${ajv.errorsText(validate.errors)})`);
      const type = Array.isArray(schema.type) ? (schema.type as unknown[]).find((t) => t !== 'null') : schema.type;
      fields.set(field, { name: field, schema, ref: ref as string | undefined, default: def, type: typeof type === 'string' ? type : undefined });
      properties[field] = schema;
    }
    const required = model.required ?? [];
    if (!Array.isArray(required) || required.some((r) => typeof r !== 'string')) fail(`${at}: "required" must be a list of field names`);
    for (const r of required as string[]) if (!fields.has(r)) fail(`${at}, field "${r}": required but not declared in fields`);
    if (!isObject(model.perms)) fail(`${at}: "perms" must be an object of role → verbs (a subset of crud)`);
    const perms = model.perms as Record<string, unknown>;
    if (perms.admin === undefined) fail(`${at}: perms has no "admin" entry`);
    for (const [role, verbs] of Object.entries(perms)) {
      if (typeof verbs !== 'string' || !/^[crud]*$/.test(verbs) || new Set(verbs).size !== verbs.length) fail(`${at}: perms "${role}" must be a subset of "crud" (got ${JSON.stringify(verbs)})`);
    }
    models.set(name, {
      name,
      fields,
      required: required as string[],
      perms: perms as Record<string, string>,
      validate: ajv.compile({ type: 'object', properties, required }),
      declared: model,
    });
  }
  return models;
}

/** The type a field's values are cast to in filters (metadata fields included). */
export function fieldType(model: Model, field: string): string | undefined {
  return METADATA_TYPES[field] ?? model.fields.get(field)?.type;
}

export function isKnownField(model: Model, field: string): boolean {
  return field in METADATA_TYPES || model.fields.has(field);
}

/** The first validation failure of a document, naming the field; undefined when it is valid. */
export function validationError(model: Model, doc: Record<string, unknown>): string | undefined {
  const declared: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(doc)) if (model.fields.has(k) && v !== null && v !== undefined) declared[k] = v;
  if (model.validate(declared)) return undefined;
  const error = model.validate.errors![0];
  if (error.keyword === 'required') return `${(error.params as { missingProperty: string }).missingProperty} is required`;
  const field = error.instancePath.split('/')[1] ?? '';
  return `${field}${error.instancePath.split('/').slice(2).map((p) => `.${p}`).join('')} ${error.message ?? 'is invalid'}`;
}
