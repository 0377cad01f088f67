/**
 * Holding answers against the specification's models (spec-models.ts) and against the OpenAPI document: the
 * document validated by @seriousme/openapi-schema-validator, each response by ajv (JSON Schema 2020-12, the
 * dialect of OpenAPI 3.1) with ajv-formats against the schema the document gives that path, method and status.
 */
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { Validator } from '@seriousme/openapi-schema-validator';
import { SPEC_MODELS, type FieldType } from './spec-models.js';

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

function checkType(type: FieldType, value: unknown, at: string, out: string[]): void {
  if (Array.isArray(type)) {
    if (!type.includes(value as string)) out.push(`${at}: ${JSON.stringify(value)} is not one of ${type.join(' | ')}`);
    return;
  }
  if (typeof type === 'object') {
    const t = type as { enum: readonly string[] };
    if (typeof value !== 'string') out.push(`${at}: expected one of ${t.enum.join(' | ')} (or an extension), got ${JSON.stringify(value)}`);
    return;
  }
  const t = type as string;
  if (t.endsWith('|null')) {
    if (value !== null) checkType(t.slice(0, -5), value, at, out);
    return;
  }
  const list = /^(.+)\[(\d*)\]$/.exec(t);
  if (list) {
    if (!Array.isArray(value)) return void out.push(`${at}: expected a list, got ${JSON.stringify(value)}`);
    if (list[2] && value.length !== Number(list[2])) out.push(`${at}: expected ${list[2]} items, got ${value.length}`);
    value.forEach((v, i) => checkType(list[1]!, v, `${at}[${i}]`, out));
    return;
  }
  const ok: Record<string, (v: unknown) => boolean> = {
    string: (v) => typeof v === 'string',
    number: (v) => typeof v === 'number' && Number.isFinite(v),
    integer: (v) => Number.isInteger(v),
    boolean: (v) => typeof v === 'boolean',
    datetime: (v) => typeof v === 'string' && ISO.test(v) && Number.isFinite(Date.parse(v)),
    // The specification's session id is host:session_name (tmux forbids ':' in names).
    'session-id': (v) => typeof v === 'string' && /^[^:]+:[^:]*$/.test(v),
  };
  if (ok[t]) {
    if (!ok[t](value)) out.push(`${at}: expected ${t}, got ${JSON.stringify(value)}`);
    return;
  }
  const model = SPEC_MODELS[t];
  if (!model) throw new Error(`spec-models.ts has no type or model '${t}'`);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return void out.push(`${at}: expected a ${t} object, got ${JSON.stringify(value)}`);
  for (const [field, ft] of Object.entries(model)) {
    if (!(field in value)) out.push(`${at}.${field}: missing (${t})`);
    else checkType(ft, (value as Record<string, unknown>)[field], `${at}.${field}`, out);
  }
}

/** Where `value` departs from the specification's `type` (a model name, `Host[]`…): one line each, [] when none. */
export function specProblems(type: string, value: unknown, at = '$'): string[] {
  const out: string[] = [];
  checkType(type, value, at, out);
  return out;
}

/** Every field name `type` covers, nested models included, so a test can see that a sample exercised them. */
export function specFieldsSeen(type: string, value: unknown, seen = new Set<string>()): Set<string> {
  const base = type.replace(/\|null$/, '').replace(/\[\d*\]$/, '');
  const model = SPEC_MODELS[base];
  if (Array.isArray(value)) for (const v of value) specFieldsSeen(base, v, seen);
  else if (model && value && typeof value === 'object') {
    for (const [field, ft] of Object.entries(model)) {
      const v = (value as Record<string, unknown>)[field];
      if (v !== undefined) seen.add(`${base}.${field}`);
      if (typeof ft === 'string') specFieldsSeen(ft, v, seen);
    }
  }
  return seen;
}

export interface OpenApiDoc {
  openapi: string;
  paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: object }> }> }>>;
}

/** The document's own validity per the OpenAPI 3.1 schema: the validator's errors, [] when valid. */
export async function openApiProblems(doc: unknown): Promise<unknown[]> {
  const result = await new Validator().validate(doc as Record<string, unknown>);
  return result.valid ? [] : [result.errors];
}

/** Validates bodies against the document's response schemas, by path template, method and status. */
export class ResponseChecker {
  private readonly ajv = new Ajv2020({ strict: false, allErrors: true });
  private readonly compiled = new Map<string, ValidateFunction>();
  constructor(private readonly doc: OpenApiDoc) {
    addFormats.default(this.ajv);
  }

  schemaOf(path: string, method: string, status: number): object {
    const op = this.doc.paths[path]?.[method];
    const schema = op?.responses[String(status)]?.content?.['application/json']?.schema;
    if (!schema) throw new Error(`the OpenAPI document has no ${method.toUpperCase()} ${path} ${status} JSON schema`);
    return schema;
  }

  /** ajv's errors for this body, [] when it matches. `item` checks one element of a list response. */
  problems(path: string, method: string, status: number, body: unknown, opts: { item?: boolean } = {}): string[] {
    const key = `${method} ${path} ${status} ${opts.item ? 'item' : ''}`;
    let validate = this.compiled.get(key);
    if (!validate) {
      const schema = this.schemaOf(path, method, status) as { items?: object };
      validate = this.ajv.compile(opts.item ? (schema.items ?? schema) : schema);
      this.compiled.set(key, validate);
    }
    return validate(body) ? [] : (validate.errors ?? []).map((e) => `${path} ${e.instancePath || '/'} ${e.message ?? ''}`);
  }
}
