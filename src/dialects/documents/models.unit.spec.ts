import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { loadModelsFile, parseModels, validationError } from './models.js';
import { ISSUE_MODELS } from './test-support.js';

describe('models file', () => {
  it('loads the issue’s models, from JSON or YAML', () => {
    const models = parseModels(ISSUE_MODELS);
    expect([...models.keys()]).toEqual(['test', 'secret']);
    expect(models.get('test')!.fields.get('parent')!.ref).toBe('test');
    const dir = mkdtempSync(join(tmpdir(), 'models-'));
    writeFileSync(join(dir, 'm.yaml'), 'note:\n  fields:\n    text: {type: string, default: hi}\n  perms: {admin: crud, all: r}\n');
    const yaml = loadModelsFile(join(dir, 'm.yaml'));
    expect(yaml.get('note')!.fields.get('text')!.default).toBe('hi');
  });

  it.each([
    [{ m: { fields: {}, perms: { user: 'r' } } }, 'model "m": perms has no "admin" entry'],
    [{ m: { fields: { a: { type: 'strang' } }, perms: { admin: 'crud' } } }, 'model "m", field "a": not a valid JSON Schema'],
    [{ m: { fields: { a: { type: 'string', ref: 'nope' } }, perms: { admin: 'crud' } } }, 'model "m", field "a": "ref" names no model'],
    [{ m: { fields: { _id: { type: 'string' } }, perms: { admin: 'crud' } } }, 'model "m", field "_id": is a metadata field'],
    [{ m: { fields: {}, perms: { admin: 'crux' } } }, 'model "m": perms "admin" must be a subset of "crud"'],
    [{ m: { fields: {}, required: ['x'], perms: { admin: 'crud' } } }, 'model "m", field "x": required but not declared'],
    [{ m: { fields: { a: { type: 'number', default: 'x' } }, perms: { admin: 'crud' } } }, 'model "m", field "a": "default" does not match'],
    [{ m: { fields: {}, perms: { admin: 'crud' }, extra: 1 } }, 'model "m": unknown key "extra"'],
  ])('refuses a bad file, naming the model and field (%#)', (raw, message) => {
    expect(() => parseModels(raw)).toThrow(message);
  });

  it('validates documents with ajv, naming the field', () => {
    const test = parseModels(ISSUE_MODELS).get('test')!;
    expect(validationError(test, { name: 'x', value: 1 })).toBeUndefined();
    expect(validationError(test, { value: 1 })).toBe('name is required');
    expect(validationError(test, { name: 'x', value: 'one' })).toBe('value must be number');
    expect(validationError(test, { name: 'x', value: null })).toBeUndefined();
  });
});
