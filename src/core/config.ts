/**
 * fleetmon's configuration: the seed's hosts.yml keys plus fleetmon's own (`server:`, per-host `port`/`user`).
 * Every key has a default. A bad file produces one error naming the file, line, column, key and what was expected,
 * and unknown keys are reported rather than ignored, so the server never starts half-configured.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node as YamlNode } from 'yaml';
import { FleetmonError } from './errors.js';

const num = (def: number, min: number, max: number, description: string) =>
  Type.Number({ default: def, minimum: min, maximum: max, description });

export const AlertsConfigSchema = Type.Object(
  {
    enabled: Type.Boolean({ default: true }),
    session_cpu_warning: num(80, 0, 100000, 'percent of one core summed over a session'),
    session_memory_mb_warning: num(2048, 0, 1e9, 'MiB of RSS summed over a session'),
    host_cpu_warning: num(90, 0, 100, 'percent'),
    host_memory_warning: num(90, 0, 100, 'percent'),
    gpu_temp_warning: num(80, 0, 200, '°C'),
    gpu_temp_critical: num(90, 0, 200, '°C'),
    gpu_memory_warning: num(90, 0, 100, 'percent of VRAM'),
    hysteresis_percent: num(5, 0, 50, 'a raised threshold alert clears only below the threshold less this percent of it'),
  },
  { additionalProperties: false, default: {} },
);

export const SshConfigSchema = Type.Object(
  {
    user: Type.String({ default: 'fleetmon', minLength: 1 }),
    key_path: Type.Union([Type.String({ minLength: 1 }), Type.Null()], { default: null }),
    timeout: num(10, 0.1, 600, 'seconds per poll and per connect'),
    known_hosts: Type.Union([Type.String({ minLength: 1 }), Type.Null()], {
      default: null,
      description: 'a known_hosts file to pin host keys from; null pins per host (host_key) or trusts on first use',
    }),
    accept_unknown_host_keys: Type.Boolean({ default: false }),
    port: Type.Integer({ default: 22, minimum: 1, maximum: 65535 }),
    reconnect_max_seconds: num(60, 0.1, 3600, 'longest wait between reconnect attempts to a failing host'),
  },
  { additionalProperties: false, default: {} },
);

export const ServerConfigSchema = Type.Object(
  {
    host: Type.String({ default: '127.0.0.1', minLength: 1 }),
    port: Type.Integer({ default: 8080, minimum: 0, maximum: 65535 }),
    data_dir: Type.Union([Type.String({ minLength: 1 }), Type.Null()], { default: null }),
    token: Type.Union([Type.String({ minLength: 16 }), Type.Null()], { default: null }),
    public_read: Type.Union([Type.Boolean(), Type.Null()], {
      default: null,
      description: 'null: reads are open only while the server listens on a loopback address',
    }),
    history_retention_days: num(7, 0.01, 3650, 'days of raw samples kept'),
  },
  { additionalProperties: false, default: {} },
);

export const HostConfigSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' }),
    address: Type.String({ minLength: 1 }),
    has_gpu: Type.Union([Type.Boolean(), Type.Null()], { default: null, description: 'null: detect nvidia-smi' }),
    port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
    user: Type.Optional(Type.String({ minLength: 1 })),
    host_key: Type.Optional(Type.String({ pattern: '^SHA256:[A-Za-z0-9+/]{43}=?$' })),
    transport: Type.Optional(Type.Union([Type.Literal('ssh'), Type.Literal('local')])),
    gate: Type.Optional(Type.Boolean({ description: 'the host has fleetmon keys deploy\'s forced-command gate' })),
  },
  { additionalProperties: false },
);

export const ConfigSchema = Type.Object(
  {
    polling_interval_seconds: num(30, 0.2, 86400, 'seconds'),
    legacy_threshold_hours: num(72, 0, 1e6, 'hours detached'),
    offline_after_failures: Type.Integer({ default: 3, minimum: 1, maximum: 1000 }),
    alerts: AlertsConfigSchema,
    ssh: SshConfigSchema,
    server: ServerConfigSchema,
    hosts: Type.Array(HostConfigSchema, { default: [] }),
  },
  { additionalProperties: false },
);

export type FleetConfig = Static<typeof ConfigSchema>;
export type HostConfig = Static<typeof HostConfigSchema>;
export type AlertsConfig = Static<typeof AlertsConfigSchema>;

export { defaultDataDir } from './data-dir.js';

/** The embedded default: monitor this machine through the local transport. */
export function embeddedConfig(): FleetConfig {
  return parseConfigObject({ hosts: [{ name: safeHostName(hostname()), address: 'localhost', transport: 'local' }] }, '<embedded>');
}

function safeHostName(name: string): string {
  const cleaned = name.replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+/, '');
  return cleaned || 'localhost';
}

export function loadConfigFile(path: string): FleetConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new FleetmonError('CONFIG_UNREADABLE', `cannot read config file ${path}: ${(err as Error).message}`, {
      kind: 'config',
      suggestions: ['check the path given to --config (or FLEETMON_CONFIG)'],
    });
  }
  return parseConfigText(text, path);
}

export function parseConfigText(text: string, fileName: string): FleetConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const where = (offset: number | undefined) => {
    if (offset === undefined) return `${fileName}`;
    const { line, col } = lineCounter.linePos(offset);
    return `${fileName}:${line}:${col}`;
  };
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    throw new FleetmonError('CONFIG_SYNTAX', `${where(e.pos[0])}: invalid YAML: ${e.message.split('\n')[0]}`, {
      kind: 'config',
    });
  }
  const raw: unknown = doc.toJS() ?? {};
  return parseConfigObject(raw, fileName, (path) => where(nodeAt(doc.contents, path)?.range?.[0]));
}

function nodeAt(root: unknown, path: string[]): YamlNode | undefined {
  let node = root as YamlNode | null | undefined;
  for (const key of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === key);
      if (!pair) return node;
      node = (pair.value ?? pair.key) as YamlNode;
    } else if (isSeq(node)) {
      const item = node.items[Number(key)];
      if (item === undefined) return node;
      node = item as YamlNode;
    } else return node ?? undefined;
  }
  return node ?? undefined;
}

export function parseConfigObject(
  raw: unknown,
  fileName: string,
  locate: (path: string[]) => string = () => fileName,
): FleetConfig {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new FleetmonError('CONFIG_INVALID', `${fileName}: expected a mapping of settings at the top level`, {
      kind: 'config',
    });
  }
  const unknown = findUnknownKeys(ConfigSchema, raw, []);
  if (unknown.length > 0) {
    const [path, key] = unknown[0]!;
    const loc = locate([...path, key]);
    const allowed = allowedKeys(ConfigSchema, path);
    throw new FleetmonError(
      'CONFIG_UNKNOWN_KEY',
      `${loc}: unknown key '${[...path, key].join('.')}'` + (allowed.length ? `; expected one of: ${allowed.join(', ')}` : ''),
      { kind: 'config', suggestions: unknown.length > 1 ? [`${unknown.length - 1} more unknown key(s) follow`] : [] },
    );
  }
  const withDefaults = Value.Default(ConfigSchema, Value.Clone(raw));
  const first = Value.Errors(ConfigSchema, withDefaults).First();
  if (first) {
    const path = first.path.split('/').filter(Boolean);
    const value = JSON.stringify(first.value);
    throw new FleetmonError(
      'CONFIG_INVALID',
      `${locate(path)}: '${path.join('.') || '(top level)'}' ${first.message.toLowerCase()}${value === undefined ? '' : ` (got ${value})`}`,
      { kind: 'config' },
    );
  }
  const config = withDefaults as FleetConfig;
  const names = new Set<string>();
  for (const [i, h] of config.hosts.entries()) {
    if (names.has(h.name)) {
      throw new FleetmonError('CONFIG_INVALID', `${locate(['hosts', String(i), 'name'])}: duplicate host name '${h.name}'`, {
        kind: 'config',
      });
    }
    names.add(h.name);
  }
  if (config.alerts.gpu_temp_critical < config.alerts.gpu_temp_warning) {
    throw new FleetmonError(
      'CONFIG_INVALID',
      `${locate(['alerts', 'gpu_temp_critical'])}: 'alerts.gpu_temp_critical' must not be below gpu_temp_warning`,
      { kind: 'config' },
    );
  }
  return config;
}

function findUnknownKeys(schema: TSchema, value: unknown, path: string[]): Array<[string[], string]> {
  const out: Array<[string[], string]> = [];
  const s = unwrapObject(schema, value);
  if (s?.type === 'object' && value && typeof value === 'object' && !Array.isArray(value)) {
    const props = s.properties as Record<string, TSchema>;
    for (const [k, v] of Object.entries(value)) {
      if (!(k in props)) out.push([path, k]);
      else out.push(...findUnknownKeys(props[k]!, v, [...path, k]));
    }
  } else if (s?.type === 'array' && Array.isArray(value)) {
    value.forEach((item, i) => out.push(...findUnknownKeys(s.items as TSchema, item, [...path, String(i)])));
  }
  return out;
}

function unwrapObject(schema: TSchema, value: unknown): TSchema | undefined {
  if (schema.anyOf) {
    return (schema.anyOf as TSchema[]).find((s) => (s.type === 'object' ? value && typeof value === 'object' : s.type === 'array'));
  }
  return schema;
}

function allowedKeys(schema: TSchema, path: string[]): string[] {
  let s: TSchema | undefined = schema;
  for (const p of path) {
    if (!s) return [];
    s = s.type === 'array' ? (s.items as TSchema) : (s.properties as Record<string, TSchema> | undefined)?.[p];
  }
  return s?.properties ? Object.keys(s.properties as object) : [];
}

/** Applies flag/env overrides on top of a loaded config (flags win over the file). */
export function withServerOverrides(
  config: FleetConfig,
  o: { host?: string | undefined; port?: number | undefined; dataDir?: string | undefined },
): FleetConfig {
  return {
    ...config,
    server: {
      ...config.server,
      ...(o.host !== undefined ? { host: o.host } : {}),
      ...(o.port !== undefined ? { port: o.port } : {}),
      ...(o.dataDir !== undefined ? { data_dir: o.dataDir } : {}),
    },
  };
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

