/**
 * The Proxmox VE API schema (a subset of pve-docs' apidata, see extract-schema.ts) and a parameter validator that
 * behaves like the server's (pve-common `PVE::JSONSchema::validate`): the same checks in the same order, the same
 * error texts where we know them, property strings parsed like `parse_property_string`, indexed keys (`net[n]`)
 * expanded, Perl patterns translated, and the named formats the dump leaves out implemented here.
 */
import { readFileSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type SchemaVersion = '9.1' | '8.4';

export interface ParamSchema {
  type?: string;
  optional?: number;
  default?: unknown;
  enum?: string[];
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string | Record<string, ParamSchema>;
  default_key?: number;
  requires?: string;
  alias?: string;
  keyAlias?: string;
  items?: ParamSchema;
  properties?: Record<string, ParamSchema>;
  additionalProperties?: number | ParamSchema;
}

export type PermissionCheck = ['perm', string, string[], ...unknown[]] | ['and' | 'or', ...PermissionCheck[]];

export interface MethodInfo {
  name: string;
  method: string;
  description?: string;
  allowtoken?: number;
  protected?: number;
  proxyto?: string;
  permissions?: { check?: PermissionCheck; user?: string; description?: string };
  parameters?: { additionalProperties?: number; properties?: Record<string, ParamSchema> };
  returns?: unknown;
}

interface TreeNode {
  path: string;
  info?: Record<string, MethodInfo>;
  children?: TreeNode[];
}

export interface MethodMatch {
  /** e.g. `POST /nodes/{node}/lxc` */
  key: string;
  template: string;
  info: MethodInfo;
  pathParams: Record<string, string>;
}

const here = dirname(fileURLToPath(import.meta.url));

export class ApiSchema {
  readonly version: SchemaVersion;
  private readonly methods = new Map<string, MethodInfo>();
  private readonly templates: { method: string; template: string; segments: string[] }[] = [];

  private constructor(version: SchemaVersion, tree: TreeNode[]) {
    this.version = version;
    const walk = (nodes: TreeNode[]) => {
      for (const node of nodes) {
        for (const [method, info] of Object.entries(node.info ?? {})) {
          this.methods.set(`${method} ${node.path}`, info);
          this.templates.push({ method, template: node.path, segments: node.path.split('/').slice(1) });
        }
        if (node.children) walk(node.children);
      }
    };
    walk(tree);
  }

  static load(version: SchemaVersion = '9.1'): ApiSchema {
    const file = join(here, 'schema', `apidata-${version}.subset.json`);
    const doc = JSON.parse(readFileSync(file, 'utf8')) as { schema: TreeNode[] };
    return new ApiSchema(version, doc.schema);
  }

  method(key: string): MethodInfo | undefined {
    return this.methods.get(key);
  }

  /** Finds the method serving a concrete path (relative to /api2/json); literal segments win over `{param}`. */
  find(method: string, path: string): MethodMatch | undefined {
    const segments = path.split('/').slice(1);
    let best: { match: MethodMatch; literals: number } | undefined;
    for (const t of this.templates) {
      if (t.method !== method || t.segments.length !== segments.length) continue;
      const pathParams: Record<string, string> = {};
      let literals = 0;
      let ok = true;
      t.segments.forEach((seg, i) => {
        const actual = segments[i] ?? '';
        const param = /^\{(.+)\}$/.exec(seg);
        if (param?.[1]) {
          if (actual === '') ok = false;
          pathParams[param[1]] = safeDecode(actual);
        } else if (seg === actual) {
          literals++;
        } else {
          ok = false;
        }
      });
      if (!ok) continue;
      if (!best || literals > best.literals) {
        const info = this.methods.get(`${method} ${t.template}`);
        if (info) best = { match: { key: `${method} ${t.template}`, template: t.template, info, pathParams }, literals };
      }
    }
    return best?.match;
  }
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** pve-container `src/PVE/LXC/Config.pm` (and qemu-server for the same names): how far `name[n]` reaches. */
const INDEX_LIMITS: Record<string, number> = { net: 32, mp: 256, unused: 256, dev: 256 };

/** A request parameter value: form values are strings (arrays when a key repeats); JSON bodies keep their types. */
export type ParamValue = string | number | boolean | null | ParamValue[] | { [k: string]: ParamValue };
export type ParamErrors = Record<string, string>;

/** Validates request parameters like the server does; returns the `errors` object (empty when valid). */
export function validateParams(info: MethodInfo, params: Record<string, ParamValue>): ParamErrors {
  const errors: ParamErrors = {};
  const schema = info.parameters ?? {};
  checkObject('', schema.properties ?? {}, params, schema.additionalProperties, errors);
  return errors;
}

function addError(errors: ParamErrors, path: string, message: string): void {
  if (errors[path] === undefined) errors[path] = message;
}

/** `net[n]` → the schema for `net5` when 5 is in range. */
function lookupProperty(props: Record<string, ParamSchema>, key: string): ParamSchema | undefined {
  if (key.endsWith('[n]')) return undefined; // the dump's collapsed name is not a real parameter
  if (Object.hasOwn(props, key)) return props[key];
  const m = /^([a-z]+)(\d+)$/.exec(key);
  if (m?.[1] && m[2] !== undefined) {
    const limit = INDEX_LIMITS[m[1]];
    const indexed = props[`${m[1]}[n]`];
    if (indexed && limit !== undefined && !/^0\d/.test(m[2]) && Number(m[2]) < limit) return indexed;
  }
  return undefined;
}

function checkObject(
  path: string,
  props: Record<string, ParamSchema>,
  value: Record<string, ParamValue>,
  additional: number | ParamSchema | undefined,
  errors: ParamErrors,
): void {
  for (const [k, sub] of Object.entries(props)) {
    if (k.endsWith('[n]')) continue; // indexed keys are optional by construction
    checkProp(value[k], sub, path ? `${path}.${k}` : k, errors);
  }
  for (const k of Object.keys(value)) {
    const newPath = path ? `${path}.${k}` : k;
    const sub = lookupProperty(props, k);
    if (sub) {
      if (!Object.hasOwn(props, k)) checkProp(value[k], sub, newPath, errors);
      if (sub.requires && value[sub.requires] === undefined) {
        addError(errors, path ? `${path}.${sub.requires}` : sub.requires, `missing property - '${newPath}' requires this property`);
      }
      continue;
    }
    if (additional !== undefined && typeof additional !== 'object' && !additional) {
      addError(errors, newPath, 'property is not defined in schema and the schema does not allow additional properties');
      continue;
    }
    if (typeof additional === 'object') checkProp(value[k], additional, newPath, errors);
  }
}

const INTEGER_RE = /^[+-]?\d+$/;
const NUMBER_RE = /^[+-]?(\d+\.\d+|\d+\.|\.\d+|\d+)([eE][+-]?\d+)?$/;

function perlRef(v: ParamValue): string {
  if (Array.isArray(v)) return 'ARRAY';
  if (v !== null && typeof v === 'object') return 'HASH';
  return '';
}

function checkType(path: string, type: string | undefined, value: ParamValue, errors: ParamErrors): boolean {
  if (!type) return true;
  const ref = perlRef(value);
  if (ref) {
    if ((type === 'array' && ref === 'ARRAY') || (type === 'object' && ref === 'HASH')) return true;
    addError(errors, path, `type check ('${type}') failed - got ${ref}`);
    return false;
  }
  if (typeof value === 'boolean') {
    // A JSON body's true/false is a JSON::PP::Boolean: only `boolean` accepts it as itself.
    if (type === 'boolean') return true;
    value = value ? '1' : '0';
  }
  const s = String(value);
  switch (type) {
    case 'object':
    case 'array':
      addError(errors, path, `type check ('${type}') failed - got '${s}'`);
      return false;
    case 'string':
      return true;
    case 'integer':
      if (!INTEGER_RE.test(s)) {
        addError(errors, path, `type check ('integer') failed - got '${s}'`);
        return false;
      }
      return true;
    case 'number':
      if (!NUMBER_RE.test(s)) {
        addError(errors, path, `type check ('number') failed - got '${s}'`);
        return false;
      }
      return true;
    case 'boolean':
      if (s !== '1' && s !== '0') {
        addError(errors, path, `type check ('boolean') failed - got '${s}'`);
        return false;
      }
      return true;
    case 'null':
      addError(errors, path, `type check ('null') failed - got '${s}'`);
      return false;
    default:
      return true;
  }
}

function checkProp(value: ParamValue | undefined, schema: ParamSchema, path: string, errors: ParamErrors): void {
  if (value === undefined || value === null) {
    if (schema.type === 'null') return;
    if (!schema.optional && !schema.alias) addError(errors, path, 'property is missing and it is not optional');
    return;
  }
  if (!checkType(path, schema.type, value, errors)) return;
  if (Array.isArray(value)) {
    if (schema.items) value.forEach((el, i) => checkProp(el, schema.items as ParamSchema, `${path}[${i}]`, errors));
    return;
  }
  if (typeof value === 'object') {
    if (schema.properties || schema.additionalProperties !== undefined) {
      checkObject(path, schema.properties ?? {}, value, schema.additionalProperties, errors);
    }
    return;
  }
  const s = typeof value === 'boolean' ? (value ? '1' : '0') : String(value);
  if (schema.format) {
    const err = checkFormat(schema.format, s, path);
    if (err) {
      addError(errors, path, `invalid format - ${err}`);
      return;
    }
  }
  if (schema.pattern && !perlPattern(schema.pattern).test(s)) {
    addError(errors, path, 'value does not match the regex pattern');
    return;
  }
  if (schema.maxLength !== undefined && s.length > schema.maxLength) {
    addError(errors, path, `value may only be ${schema.maxLength} characters long`);
    return;
  }
  if (schema.minLength !== undefined && s.length < schema.minLength) {
    addError(errors, path, `value must be at least ${schema.minLength} characters long`);
    return;
  }
  if (NUMBER_RE.test(s)) {
    if (schema.maximum !== undefined && Number(s) > schema.maximum) {
      addError(errors, path, `value must have a maximum value of ${schema.maximum}`);
      return;
    }
    if (schema.minimum !== undefined && Number(s) < schema.minimum) {
      addError(errors, path, `value must have a minimum value of ${schema.minimum}`);
      return;
    }
  }
  if (schema.enum && !schema.enum.includes(s)) {
    addError(errors, path, `value '${s}' does not have a value in the enumeration '${schema.enum.join(', ')}'`);
  }
}

const patternCache = new Map<string, RegExp>();

/** Perl `m/^${pattern}$/`: `(?^:` is a default-flags group; `(?^i:` makes it case-insensitive (no inline flags in JS). */
export function perlPattern(pattern: string): RegExp {
  let re = patternCache.get(pattern);
  if (!re) {
    const insensitive = pattern.includes('(?^i:');
    const js = pattern.replace(/\(\?\^i?:/g, '(?:');
    re = new RegExp(`^${js}$`, insensitive ? 'i' : '');
    patternCache.set(pattern, re);
  }
  return re;
}

/** Returns the error text (what the Perl format check dies with), or undefined when the value is valid. */
function checkFormat(format: string | Record<string, ParamSchema>, value: string, path: string): string | undefined {
  if (typeof format === 'object') return parsePropertyString(format, value, path);
  let name = format;
  let kind: 'single' | 'list' | 'opt' = 'single';
  if (name.endsWith('-list') && !NAMED_FORMATS[name]) {
    name = name.slice(0, -5);
    kind = 'list';
  } else if (name.endsWith('-opt')) {
    name = name.slice(0, -4);
    kind = 'opt';
  }
  const check = NAMED_FORMATS[name];
  if (!check) throw new Error(`simulator: format '${format}' is not implemented (extend NAMED_FORMATS)`);
  if (kind === 'list') {
    for (const part of splitList(value)) {
      const err = check(part);
      if (err) return `${err}\n`;
    }
    return undefined;
  }
  if (kind === 'opt' && value === '') return undefined;
  const err = check(value);
  return err ? `${err}\n` : undefined;
}

/** PVE::Tools::split_list */
export function splitList(value: string): string[] {
  return value
    .replace(/[,;\0]/g, ' ')
    .trim()
    .split(/\s+/)
    .filter((s) => s !== '');
}

function parseBoolean(v: string): string | undefined {
  if (/^(1|on|yes|true)$/i.test(v)) return '1';
  if (/^(0|off|no|false)$/i.test(v)) return '0';
  return undefined;
}

/** pve-common `parse_property_string`: `key=value,...`, a bare part goes to the `default_key`. */
function parsePropertyString(format: Record<string, ParamSchema>, data: string, path: string): string | undefined {
  const res: Record<string, ParamValue> = {};
  let defaultKey: string | undefined;
  for (const part of data.split(',')) {
    if (/^\s*$/.test(part)) continue;
    const kv = /^([^=]+)=(.+)$/s.exec(part);
    if (kv?.[1] !== undefined && kv[2] !== undefined) {
      let k = kv[1];
      let v = kv[2];
      if (res[k] !== undefined) return `duplicate key in comma-separated list property: ${k}\n`;
      let schema = format[k];
      if (schema?.alias) {
        if (schema.keyAlias) {
          if (res[schema.keyAlias] !== undefined) return `key alias '${schema.keyAlias}' is already defined\n`;
          res[schema.keyAlias] = k;
        }
        k = schema.alias;
        schema = format[k];
      }
      if (!schema) return `invalid key in comma-separated list property: ${k}\n`;
      if (schema.type === 'boolean') v = parseBoolean(v) ?? v;
      res[k] = v;
    } else if (!part.includes('=')) {
      if (defaultKey) return `duplicate key in comma-separated list property: ${defaultKey}\n`;
      for (const [key, sub] of Object.entries(format)) {
        if (sub.default_key) {
          defaultKey = key;
          if (res[key] !== undefined) return `duplicate key in comma-separated list property: ${key}\n`;
          res[key] = part;
          break;
        }
      }
      if (!defaultKey) return 'value without key, but schema does not define a default key\n';
    } else {
      return 'missing key in comma-separated list property\n';
    }
  }
  const errors: ParamErrors = {};
  checkObject(path, format, res, 0, errors);
  const keys = Object.keys(errors);
  if (!keys.length) return undefined;
  return `format error\n${keys.map((k) => `${k}: ${errors[k]}\n`).join('')}`;
}

const IPV4_OCTET = '(?:25[0-5]|(?:2[0-4]|1[0-9]|[1-9])?[0-9])';
const IPV4_RE = new RegExp(`^${IPV4_OCTET}(?:\\.${IPV4_OCTET}){3}$`);
const LABEL = '[a-zA-Z0-9](?:[a-zA-Z0-9\\-]*[a-zA-Z0-9])?';
const DNS_RE = new RegExp(`^(?:${LABEL}\\.)*${LABEL}$`);

const isIPv4 = (v: string) => IPV4_RE.test(v);
const isCidr = (v: string, ip: (s: string) => boolean, max: number) => {
  const m = /^(.+)\/(\d+)$/.exec(v);
  return !!m?.[1] && !!m[2] && ip(m[1]) && Number(m[2]) >= 8 && Number(m[2]) <= max;
};
const orError = (ok: boolean, message: string) => (ok ? undefined : message);

/** The Perl format functions the dump names but does not contain (see the shared README's FORMATS table). */
const NAMED_FORMATS: Record<string, (v: string) => string | undefined> = {
  'pve-node': (v) => orError(/^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$/.test(v), 'value does not look like a valid node name'),
  'pve-vmid': (v) => orError(/^[1-9][0-9]{2,8}$/.test(v), 'value does not look like a valid VM ID'),
  'pve-storage-id': (v) =>
    orError(v.length >= 2 && /^[a-z][a-z0-9\-_.]*[a-z0-9]$/i.test(v), `storage ID '${v}' contains illegal characters`),
  'pve-configid': (v) => orError(/^[a-z][a-z0-9_-]+$/i.test(v), `invalid configuration ID '${v}'`),
  'pve-poolid': (v) => orError(/^[A-Za-z0-9.\-_]+(?:\/[A-Za-z0-9.\-_]+){0,2}$/.test(v), `invalid pool ID '${v}'`),
  'pve-tag': (v) => orError(/^[a-z0-9_][a-z0-9_\-+.]*$/i.test(v), `invalid characters in tag '${v}'`),
  'dns-name': (v) => orError(DNS_RE.test(v), 'value does not look like a valid DNS name'),
  'mac-addr': (v) =>
    orError(/^[a-f0-9][02468ace](?::[a-f0-9]{2}){5}$/i.test(v), 'value does not look like a valid unicast MAC address'),
  ipv4: (v) => orError(isIPv4(v), 'value does not look like a valid IPv4 address'),
  ipv6: (v) => orError(isIPv6(v), 'value does not look like a valid IPv6 address'),
  ip: (v) => orError(isIPv4(v) || isIPv6(v), 'value does not look like a valid IP address'),
  CIDRv4: (v) => orError(isCidr(v, isIPv4, 32), 'value does not look like a valid IPv4 CIDR network'),
  CIDRv6: (v) => orError(isCidr(v, isIPv6, 128), 'value does not look like a valid IPv6 CIDR network'),
  'pve-ipv4-config': (v) =>
    orError(v === 'dhcp' || v === 'manual' || isCidr(v, isIPv4, 32), 'value does not look like a valid ipv4 network configuration'),
  'pve-ipv6-config': (v) =>
    orError(
      v === 'auto' || v === 'dhcp' || v === 'manual' || isCidr(v, isIPv6, 128),
      'value does not look like a valid ipv6 network configuration',
    ),
  'lxc-ip-with-ll-iface': (v) => {
    const [ip, iface] = v.split('%');
    if (iface !== undefined) return orError(!!ip && isIPv6(ip) && /^fe80:/i.test(ip), 'value does not look like a valid IP address');
    return orError(!!ip && (isIPv4(ip) || isIPv6(ip)), 'value does not look like a valid IP address');
  },
  'disk-size': (v) => orError(/^(\d+(\.\d+)?)([KMGT](?:iB)?)?$/.test(v), `unable to parse size '${v}'`),
  'pve-startup-order': (v) =>
    orError(
      v.split(',').every((p) => /^(order=)?\d+$/.test(p) || /^(up|down)=\d+$/.test(p)),
      'unable to parse startup options',
    ),
  'pve-ct-timezone': (v) =>
    orError(
      v === 'host' || v === 'UTC' || (/^[A-Z][A-Za-z_+-]*(\/[A-Za-z0-9_+-]+){1,2}$/.test(v) && !v.startsWith('Etc/')),
      `invalid time zone '${v}'`,
    ),
  'pve-lxc-mp-string': (v) =>
    orError(
      !(v.includes('/./') || v.includes('/../') || /\/\.\.?$/.test(v) || v.startsWith('../')),
      `${v} contains illegal character sequences`,
    ),
  'pve-lxc-dev-string': (v) => orError(v.startsWith('/dev/') && !/\/\.\.?(\/|$)/.test(v), `not a valid device string '${v}'`),
  'pve-volume-id': (v) => orError(/^([a-z][a-z0-9\-_.]*[a-z0-9]):(.+)$/is.test(v), `unable to parse volume ID '${v}'`),
  'pve-storage-content': (v) =>
    orError(['images', 'rootdir', 'vztmpl', 'iso', 'backup', 'snippets', 'none', 'import'].includes(v), `invalid content type '${v}'`),
};
