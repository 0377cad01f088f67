/**
 * fleetmon's configuration: the seed's hosts.yml keys plus fleetmon's own (`server:`, per-host `port`/`user`).
 * Every key has a default. A bad file produces one error listing every problem, each with the file, line, column,
 * key (and host name), what was expected in words and the fix; unknown keys are reported rather than ignored, so
 * the server never starts half-configured. Files over 1 MiB are refused unread, YAML alias bombs before they expand.
 */
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { Kind, Type, type Static, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, visit, type Node as YamlNode } from 'yaml';
import { FleetmonError } from './errors.js';
import { AlertType, Severity } from './model.js';
import { cleanHostName } from './names.js';

/** The least length of an API token (`server.token`, FLEETMON_TOKEN); see checkTokenStrength. */
export const TOKEN_MIN_LENGTH = 32;
/** The least number of different characters in an API token. */
export const TOKEN_MIN_DISTINCT = 10;
/** How to get a strong token, for the messages that refuse a weak one. */
const TOKEN_FIX = 'generate one with `openssl rand -hex 32`, or set `token: null` to have fleetmon generate one into <data_dir>/api-token';
/** Config files larger than this are refused unread. */
export const CONFIG_MAX_BYTES = 1024 * 1024;
/** yaml's maxAliasCount: how far YAML aliases (`*name`) may expand before a file counts as an alias bomb. */
export const CONFIG_MAX_ALIAS_COUNT = 100;

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
    disk_full: Type.Object(
      {
        enabled: Type.Boolean({ default: true }),
        percent: num(90, 1, 100, 'a mounted filesystem used above this percent'),
      },
      { additionalProperties: false, default: {}, fix: 'write e.g. `disk_full: {percent: 90}`, or `{enabled: false}`' },
    ),
    gpu_idle_holder: Type.Object(
      {
        enabled: Type.Boolean({ default: true }),
        memory_gib: num(4, 0, 1e6, 'GiB of GPU memory a process holds, at least'),
        utilization_percent: num(5, 0, 100, 'its GPU busy at most this percent'),
        minutes: num(30, 0, 1e6, 'for this long'),
      },
      { additionalProperties: false, default: {}, fix: 'write e.g. `gpu_idle_holder: {memory_gib: 4, utilization_percent: 5, minutes: 30}`, or `{enabled: false}`' },
    ),
    session_finished: Type.Object(
      {
        enabled: Type.Boolean({ default: true }),
        busy_cpu_percent: num(50, 0, 100000, 'a session is busy at this CPU percent (of one core, summed) or more'),
        busy_gpu_percent: num(20, 0, 100, '…or with a process on a GPU at least this busy'),
        busy_minutes: num(10, 0, 1e6, 'busy for this long, at least'),
        quiet_minutes: num(5, 0, 1e6, 'then quiet for this long'),
      },
      { additionalProperties: false, default: {}, fix: 'write e.g. `session_finished: {busy_minutes: 10, quiet_minutes: 5}`, or `{enabled: false}`' },
    ),
  },
  { additionalProperties: false, default: {} },
);

export const SshConfigSchema = Type.Object(
  {
    user: Type.String({ default: 'fleetmon', minLength: 1 }),
    key_path: Type.Union([Type.String({ minLength: 1 }), Type.Null()], { default: null, example: '/var/lib/fleetmon/.ssh/id_ed25519' }),
    timeout: num(10, 0.1, 600, 'seconds per poll and per connect'),
    known_hosts: Type.Union([Type.String({ minLength: 1 }), Type.Null()], {
      default: null,
      example: '/etc/ssh/ssh_known_hosts',
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
    data_dir: Type.Union([Type.String({ minLength: 1 }), Type.Null()], { default: null, example: '/var/lib/fleetmon' }),
    token: Type.Union([Type.String({ minLength: TOKEN_MIN_LENGTH, token: true }), Type.Null()], {
      default: null,
      fix: TOKEN_FIX,
      description: 'null: FLEETMON_TOKEN, else a token generated into data_dir/api-token; see checkTokenStrength',
    }),
    public_read: Type.Union([Type.Boolean(), Type.Null()], {
      default: null,
      description: 'null: reads are open only while the server listens on a loopback address',
    }),
    history_retention_days: num(7, 0.01, 3650, 'days of raw samples kept'),
    tls: Type.Union(
      [
        Type.Null(),
        Type.Literal('self-signed'),
        Type.Object(
          {
            cert_file: Type.String({ minLength: 1, example: '/etc/fleetmon/tls/cert.pem' }),
            key_file: Type.String({ minLength: 1, example: '/etc/fleetmon/tls/key.pem' }),
          },
          { additionalProperties: false },
        ),
      ],
      {
        default: null,
        fix: 'write `tls: self-signed`, or `tls: {cert_file: /path/cert.pem, key_file: /path/key.pem}`, or `tls: null` for plain HTTP',
        description: 'null: plain HTTP; self-signed: a certificate made once into data_dir; or PEM files',
      },
    ),
    trusted_proxies: Type.Array(Type.String({ minLength: 1, example: '127.0.0.1' }), {
      default: [],
      noun: 'addresses',
      description: 'peers whose X-Forwarded-For/-Proto is believed (addresses or CIDRs); none by default',
      fix: 'list the reverse proxy\'s address(es): `trusted_proxies: [127.0.0.1, 10.0.0.0/24]`, or `[]` for none',
    }),
    public_names: Type.Array(Type.String({ minLength: 1, example: 'fleetmon.example.org' }), {
      default: [],
      noun: 'names',
      description:
        'names and addresses clients use to reach a server listening beyond loopback (any port); loopback names, this machine\'s own addresses and its name are always accepted, any other Host is refused (421) against DNS rebinding',
      fix: 'list the names clients type: `public_names: [fleetmon.example.org, monitor.lan]`, or `[]` for addresses only',
    }),
  },
  { additionalProperties: false, default: {} },
);

export const HostConfigSchema = Type.Object(
  {
    name: Type.String({
      minLength: 1,
      maxLength: 253,
      pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$',
      expected: "must be 1 to 253 letters, digits, '.', '_' or '-', starting with a letter or digit",
      example: 'gpu1',
    }),
    address: Type.String({ minLength: 1, example: '<hostname or IP>' }),
    has_gpu: Type.Union([Type.Boolean(), Type.Null()], { default: null, description: 'null: detect nvidia-smi' }),
    port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, example: 22 })),
    user: Type.Optional(Type.String({ minLength: 1, example: 'fleetmon' })),
    host_key: Type.Optional(
      Type.String({
        pattern: '^SHA256:[A-Za-z0-9+/]{43}=?$',
        expected: 'must look like SHA256:<43 base64 characters> as `ssh-keygen -lf` prints',
        fix:
          'copy it from `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` run on the host, or let `fleetmon keys deploy` pin it',
      }),
    ),
    transport: Type.Optional(Type.Union([Type.Literal('ssh'), Type.Literal('local')])),
    gate: Type.Optional(Type.Boolean({ description: 'the host has fleetmon keys deploy\'s forced-command gate' })),
  },
  {
    additionalProperties: false,
    expected: 'must be a host: a mapping with at least name and address',
    fix: 'write each host as a mapping: `- {name: gpu1, address: 192.168.1.10}`',
  },
);

/** A duration: whole seconds, or a number with a unit (`90s`, `5m`, `2h`, `1d`). */
const DURATION_PATTERN = '^\\d+(\\.\\d+)?(s|m|h|d)$';
const durationMembers = () => [
  Type.Integer({ minimum: 0, maximum: 365 * 86400, description: 'seconds' }),
  Type.String({ pattern: DURATION_PATTERN, expected: 'must be a duration such as 30s, 5m, 2h or 1d', example: '5m' }),
] as const;
const Duration = (def: number | string, description: string) => Type.Union([...durationMembers()], { default: def, description, example: '5m' });
const NullableDuration = (description: string) => Type.Union([...durationMembers(), Type.Null()], { default: null, description, example: '1h' });

/** A duration as hosts.yml writes it, in milliseconds; null stays null. */
export function durationMs(value: number | string | null): number | null {
  if (value === null) return null;
  if (typeof value === 'number') return value * 1000;
  const m = /^(\d+(?:\.\d+)?)(s|m|h|d)$/.exec(value);
  if (!m) throw new Error(`not a duration: ${value}`);
  return Number(m[1]) * { s: 1000, m: 60_000, h: 3600_000, d: 86400_000 }[m[2] as 's' | 'm' | 'h' | 'd'];
}

/** Names of an environment variable holding a secret (a token, a password, a URL with a key in it). */
const EnvName = () => Type.Optional(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$', expected: 'must be the name of an environment variable', example: 'FLEETMON_WEBHOOK_SECRET' }));
const SecretFile = () => Type.Optional(Type.String({ minLength: 1, example: '/etc/fleetmon/webhook-secret' }));

export const CHANNEL_TYPES = ['webhook', 'ntfy', 'slack', 'email', 'alertmanager'] as const;
export type ChannelType = (typeof CHANNEL_TYPES)[number];
export const NOTIFY_EVENTS = ['new', 'updated', 'reminder', 'resolved', 'acknowledged'] as const;
export type NotifyEvent = (typeof NOTIFY_EVENTS)[number];
const CLOCK = { pattern: '^([01]\\d|2[0-3]):[0-5]\\d$', expected: 'must be a time of day as HH:MM (00:00 to 23:59)', example: '22:00' };

export const SmtpConfigSchema = Type.Object(
  {
    host: Type.String({ minLength: 1, example: 'smtp.example.org' }),
    port: Type.Integer({ default: 587, minimum: 1, maximum: 65535 }),
    security: Type.Union([Type.Literal('starttls'), Type.Literal('tls'), Type.Literal('none')], {
      default: 'starttls',
      description: 'starttls: upgrade on the submission port (587) and refuse to send without it; tls: TLS from the start (465)',
    }),
    user: Type.Optional(Type.String({ minLength: 1 })),
    password_file: SecretFile(),
    password_env: EnvName(),
    ca_file: Type.Optional(Type.String({ minLength: 1, description: 'a PEM file of the CA that signed the server\'s certificate, for a private CA' })),
  },
  { additionalProperties: false, expected: 'must be a mapping with at least host', fix: 'write e.g. `smtp: {host: smtp.example.org, port: 587}`' },
);

export const QuietHoursSchema = Type.Object(
  {
    from: Type.String(CLOCK),
    to: Type.String({ ...CLOCK, example: '07:00' }),
    tz: Type.String({ default: 'UTC', minLength: 1, example: 'Europe/Berlin', description: 'an IANA time zone' }),
  },
  { additionalProperties: false, fix: 'write e.g. `quiet_hours: {from: "22:00", to: "07:00", tz: Europe/Berlin}`' },
);

export const ChannelConfigSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$', expected: "must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", example: 'ops-webhook' }),
    type: Type.Union(CHANNEL_TYPES.map((t) => Type.Literal(t))),
    url: Type.Optional(Type.String({ minLength: 1, secret: true, example: 'https://hooks.example.org/fleetmon' })),
    url_file: SecretFile(),
    url_env: EnvName(),
    secret_file: SecretFile(),
    secret_env: EnvName(),
    token_file: SecretFile(),
    token_env: EnvName(),
    smtp: Type.Optional(SmtpConfigSchema),
    from: Type.Optional(Type.String({ minLength: 3, example: 'fleetmon@example.org' })),
    to: Type.Optional(Type.Array(Type.String({ minLength: 3, example: 'oncall@example.org' }), { noun: 'addresses' })),
    min_severity: Type.Union(Severity.anyOf, { default: 'info' }),
    types: Type.Optional(Type.Array(AlertType, { noun: 'alert types' })),
    hosts: Type.Optional(Type.Array(Type.String({ minLength: 1, example: 'gpu*' }), { noun: 'host name globs' })),
    events: Type.Array(Type.Union(NOTIFY_EVENTS.map((e) => Type.Literal(e))), { default: ['new', 'reminder', 'resolved', 'acknowledged'], noun: 'events' }),
    for: Duration(0, 'how long an alert must hold before it notifies'),
    repeat_every: NullableDuration('reminders while an alert is open and not acknowledged; null: none'),
    quiet_hours: Type.Optional(QuietHoursSchema),
    rate_limit_per_minute: Type.Integer({ default: 30, minimum: 1, maximum: 10000 }),
    timeout: num(10, 0.1, 300, 'seconds per delivery attempt'),
  },
  {
    additionalProperties: false,
    expected: 'must be a channel: a mapping with at least name and type',
    fix: 'write each channel as a mapping: `- {name: ops, type: webhook, url: https://…}`',
  },
);

export const NotificationsConfigSchema = Type.Object(
  {
    channels: Type.Array(ChannelConfigSchema, { default: [], noun: 'channels', fix: 'write each channel as a list item: `- {name: ops, type: webhook, url: https://…}`' }),
    retry_initial_seconds: num(10, 0.01, 3600, 'the first wait after a failed delivery; it doubles with each failure'),
    retry_max_seconds: num(600, 0.01, 86400, 'the longest wait between delivery attempts'),
    give_up_after_hours: num(24, 0.001, 720, 'a message still undelivered after this long is marked failed'),
    collapse_after_minutes: num(15, 0.01, 10080, 'a backlog older than this is collapsed to what still matters'),
    alertmanager_resend_seconds: num(60, 1, 3600, 'how often open alerts are re-posted to Alertmanager'),
  },
  { additionalProperties: false, default: {} },
);

export const ConfigSchema = Type.Object(
  {
    polling_interval_seconds: num(30, 0.2, 86400, 'seconds'),
    legacy_threshold_hours: num(72, 0, 1e6, 'hours detached'),
    offline_after_failures: Type.Integer({ default: 3, minimum: 1, maximum: 1000 }),
    alerts: AlertsConfigSchema,
    ssh: SshConfigSchema,
    server: ServerConfigSchema,
    notifications: NotificationsConfigSchema,
    hosts: Type.Array(HostConfigSchema, {
      default: [],
      noun: 'hosts',
      fix: 'write each host as a list item: `- {name: gpu1, address: 192.168.1.10}`, or `hosts: []` for none',
    }),
  },
  { additionalProperties: false },
);

export type FleetConfig = Static<typeof ConfigSchema>;
export type HostConfig = Static<typeof HostConfigSchema>;
export type AlertsConfig = Static<typeof AlertsConfigSchema>;
export type ChannelConfig = Static<typeof ChannelConfigSchema>;
export type NotificationsConfig = Static<typeof NotificationsConfigSchema>;

export { defaultDataDir } from './data-dir.js';

/** The embedded default: monitor this machine through the local transport. */
export function embeddedConfig(): FleetConfig {
  return parseConfigObject({ hosts: [{ name: cleanHostName(hostname(), 'localhost'), address: 'localhost', transport: 'local' }] }, '<embedded>');
}


/** A loaded config, and what the caller should print before it runs with it (an empty file, say). */
export interface LoadedConfig {
  config: FleetConfig;
  warnings: string[];
}

/** Reads and checks a hosts.yml; a file over CONFIG_MAX_BYTES is refused before it is read. */
export function loadConfig(path: string): LoadedConfig {
  let text: string;
  try {
    const fd = openSync(path, 'r');
    try {
      const { size } = fstatSync(fd);
      if (size > CONFIG_MAX_BYTES) throw tooLarge(path, size);
      text = readFileSync(fd, 'utf8');
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    if (err instanceof FleetmonError) throw err;
    throw new FleetmonError('CONFIG_UNREADABLE', `cannot read config file ${path}: ${(err as Error).message}`, {
      kind: 'config',
      suggestions: ['check the path given to --config (or FLEETMON_CONFIG)'],
    });
  }
  return parseConfig(text, path);
}

/** loadConfig without the warnings. */
export function loadConfigFile(path: string): FleetConfig {
  return loadConfig(path).config;
}

/** parseConfig without the warnings. */
export function parseConfigText(text: string, fileName: string): FleetConfig {
  return parseConfig(text, fileName).config;
}

export function parseConfig(text: string, fileName: string): LoadedConfig {
  const { raw, locate, warnings } = readYamlDocument(text, fileName);
  return { config: parseConfigObject(raw ?? {}, fileName, locate), warnings };
}

/**
 * The YAML half of loading a file checked by a TypeBox schema (hosts.yml, fleet.yml): size limit, syntax errors with
 * file:line:col, alias bombs, and a locator from a key path to its place in the file. `raw` is null for an empty file.
 */
export function readYamlDocument(text: string, fileName: string): { raw: unknown; locate: Locator; warnings: string[] } {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > CONFIG_MAX_BYTES) throw tooLarge(fileName, bytes);
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const where = (offset: number | undefined) => {
    if (offset === undefined) return fileName;
    const { line, col } = lineCounter.linePos(offset);
    return `${fileName}:${line}:${col}`;
  };
  if (doc.errors.length > 0) {
    const lines = doc.errors.map((e) => `${where(e.pos[0])}: invalid YAML: ${e.message.split('\n')[0]}`);
    throw configFailure('CONFIG_SYNTAX', fileName, lines);
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: CONFIG_MAX_ALIAS_COUNT });
  } catch (err) {
    let alias: number | undefined;
    visit(doc, {
      Alias(_key, node) {
        alias = node.range?.[0];
        return visit.BREAK;
      },
    });
    const message = (err as Error).message;
    if (err instanceof ReferenceError && /excessive alias count/i.test(message)) {
      throw new FleetmonError(
        'CONFIG_INVALID',
        `${where(alias)}: YAML aliases (*name) expand past the limit of ${CONFIG_MAX_ALIAS_COUNT} uses; an alias expansion bomb ("billion laughs") is refused; fix: write the values out instead of referring to anchors (&name)`,
        { kind: 'config' },
      );
    }
    throw new FleetmonError('CONFIG_INVALID', `${where(alias)}: cannot read the YAML: ${message}`, { kind: 'config' });
  }
  // An empty file (or only comments, `---` or `null`) is valid, but rarely what was meant: say so.
  const warnings = raw == null ? [`${fileName}: the file has no settings: running with every default and no hosts to monitor`] : [];
  const locate: Locator = (path, part) => {
    const node = nodeAt(doc.contents, path, part);
    const offset = node?.range?.[0];
    return { where: where(offset), offset };
  };
  return { raw: raw ?? null, locate, warnings };
}

function tooLarge(fileName: string, bytes: number): FleetmonError {
  return new FleetmonError(
    'CONFIG_INVALID',
    `${fileName}: the file is ${bytes} bytes; fleetmon refuses config files over 1 MiB (${CONFIG_MAX_BYTES} bytes); fix: check that --config (FLEETMON_CONFIG) names your hosts.yml, which is a few KiB even for hundreds of hosts`,
    { kind: 'config' },
  );
}

/** One problem line, or a count and one indented line per problem. */
function configFailure(code: string, fileName: string, lines: string[]): FleetmonError {
  const message = lines.length === 1 ? lines[0]! : `${fileName}: ${lines.length} problems:\n${lines.map((l) => `  ${l}`).join('\n')}`;
  return new FleetmonError(code, message, { kind: 'config' });
}

export type Path = Array<string | number>;
/** Where a key ('key') or its value ('value') is in the file; offset orders the problems. */
export type Locator = (path: Path, part: 'key' | 'value') => { where: string; offset: number | undefined };

function nodeAt(root: unknown, path: Path, part: 'key' | 'value'): YamlNode | undefined {
  let node = root as YamlNode | null | undefined;
  for (const [i, key] of path.entries()) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(key));
      if (!pair) return node;
      if (part === 'key' && i === path.length - 1) return pair.key as YamlNode;
      node = (pair.value ?? pair.key) as YamlNode;
    } else if (isSeq(node)) {
      const item = node.items[Number(key)];
      if (item === undefined) return node;
      node = item as YamlNode;
    } else if (isAlias(node)) return node;
    else return node ?? undefined;
  }
  return node ?? undefined;
}

/** One problem in a checked file, placed by its key path. */
export interface SchemaProblem {
  path: Path;
  /** 'key' for an unknown key, 'value' for a bad value, 'parent' for a missing key (the mapping that lacks it). */
  part: 'key' | 'value' | 'parent';
  text: string;
  unknownKey?: boolean;
}
type Problem = SchemaProblem;

/** Keys that could reach an object's prototype; refused wherever they appear. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

export function parseConfigObject(raw: unknown, fileName: string, locate?: Locator): FleetConfig {
  return checkAgainstSchema(ConfigSchema, raw, fileName, {
    locate,
    crossChecks: crossChecks,
    topLevelFix: 'start from the example in the README, e.g. `hosts: [{name: gpu1, address: 192.168.1.10}]`',
  });
}

/**
 * Checks a file's contents against a schema the way hosts.yml is checked: every problem at once (unknown keys, bad
 * values, missing keys, and the file's own cross checks), each with file:line:col and the fix; then the defaults.
 */
export function checkAgainstSchema<S extends TSchema>(
  schema: S,
  raw: unknown,
  fileName: string,
  o: { locate?: Locator | undefined; crossChecks?: (raw: Record<string, unknown>) => SchemaProblem[]; topLevelFix: string },
): Static<S> {
  const at: Locator = o.locate ?? (() => ({ where: fileName, offset: undefined }));
  if (!isPlainObject(raw)) {
    const { where } = at([], 'value');
    throw new FleetmonError(
      'CONFIG_INVALID',
      `${where}: the top level must be a mapping of settings (key: value) (got ${got(raw, false)}); fix: ${o.topLevelFix}`,
      { kind: 'config' },
    );
  }
  const problems: Problem[] = [];
  check(schema, raw, [], raw, problems);
  problems.push(...(o.crossChecks?.(raw) ?? []));
  if (problems.length > 0) {
    const placed = problems.map((p, i) => {
      const loc = p.part === 'parent' ? at(p.path.slice(0, -1), 'value') : at(p.path, p.part);
      return { line: `${loc.where}: ${p.text}`, offset: loc.offset ?? -1, i, unknownKey: p.unknownKey === true };
    });
    placed.sort((a, b) => a.offset - b.offset || a.i - b.i);
    const code = placed.every((p) => p.unknownKey) ? 'CONFIG_UNKNOWN_KEY' : 'CONFIG_INVALID';
    throw configFailure(
      code,
      fileName,
      placed.map((p) => p.line),
    );
  }
  const config = Value.Default(schema, Value.Clone(raw));
  if (!Value.Check(schema, config)) {
    // check() above and TypeBox disagree: a bug here, but still no half-checked config.
    const first = Value.Errors(schema, config).First();
    throw new FleetmonError('CONFIG_INVALID', `${fileName}: invalid setting at ${first?.path ?? '/'}: ${first?.message ?? 'unknown'}`, {
      kind: 'config',
    });
  }
  return config as Static<S>;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** `hosts[2] (gpu3).port`: list items by index, and a host (any item with a name) also by its name. */
export function keyPath(raw: unknown, path: Path): string {
  let out = '';
  let cur: unknown = raw;
  for (const p of path) {
    const next = isPlainObject(cur) && typeof p === 'string' && Object.hasOwn(cur, p) ? cur[p] : Array.isArray(cur) ? cur[Number(p)] : undefined;
    if (typeof p === 'number') {
      out += `[${p}]`;
      if (isPlainObject(next) && typeof next.name === 'string' && next.name) out += ` (${next.name})`;
    } else out += (out ? '.' : '') + p;
    cur = next;
  }
  return out || '(top level)';
}

/** Checks value against schema, pushing one problem per bad key; unknown keys are problems, not ignored. */
function check(schema: TSchema, value: unknown, path: Path, raw: unknown, out: Problem[]): void {
  const bad = () => out.push({ path, part: 'value', text: mismatch(schema, value, path, raw) });
  switch (schema[Kind] as string) {
    case 'Object': {
      if (!isPlainObject(value)) return void bad();
      const props = schema.properties as Record<string, TSchema>;
      const required = new Set((schema.required as string[] | undefined) ?? []);
      for (const [k, v] of Object.entries(value)) {
        if (FORBIDDEN_KEYS.has(k) || !Object.hasOwn(props, k)) out.push(unknownKey(props, k, [...path, k], raw));
        else check(props[k]!, v, [...path, k], raw, out);
      }
      for (const [k, s] of Object.entries(props)) {
        if (!Object.hasOwn(value, k) && required.has(k) && s.default === undefined) {
          out.push({ path: [...path, k], part: 'parent', text: `${keyPath(raw, [...path, k])} is required: add \`${k}: ${yamlValue(s.example ?? '…')}\`` });
        }
      }
      return;
    }
    case 'Array':
      if (!Array.isArray(value)) return void bad();
      value.forEach((item, i) => check(schema.items as TSchema, item, [...path, i], raw, out));
      return;
    case 'Union': {
      const members = schema.anyOf as TSchema[];
      if (members.some((m) => passes(m, value))) return;
      const alike = members.filter((m) => baseType(m) === jsType(value));
      if (alike.length === 1) return check(alike[0]!, value, path, raw, out);
      return void bad();
    }
    case 'String': {
      if (typeof value !== 'string') return void bad();
      if (schema.token === true) {
        const weak = checkTokenStrength(value);
        if (weak) out.push({ path, part: 'value', text: `${keyPath(raw, path)} is too weak: ${weak}; fix: ${TOKEN_FIX}` });
        return;
      }
      const tooShort = typeof schema.minLength === 'number' && value.length < schema.minLength;
      const tooLong = typeof schema.maxLength === 'number' && value.length > schema.maxLength;
      const unmatched = typeof schema.pattern === 'string' && !new RegExp(schema.pattern).test(value);
      if (tooShort || tooLong || unmatched) bad();
      return;
    }
    case 'Number':
    case 'Integer': {
      const ok =
        typeof value === 'number' &&
        Number.isFinite(value) &&
        (schema[Kind] !== 'Integer' || Number.isInteger(value)) &&
        (typeof schema.minimum !== 'number' || value >= schema.minimum) &&
        (typeof schema.maximum !== 'number' || value <= schema.maximum);
      if (!ok) bad();
      return;
    }
    case 'Boolean':
      if (typeof value !== 'boolean') bad();
      return;
    case 'Null':
      if (value !== null) bad();
      return;
    case 'Literal':
      if (value !== schema.const) bad();
      return;
    default:
      if (!Value.Check(schema, value)) bad();
  }
}

function passes(schema: TSchema, value: unknown): boolean {
  const out: Problem[] = [];
  check(schema, value, [], value, out);
  return out.length === 0;
}

function baseType(schema: TSchema): string {
  const kind = schema[Kind] as string;
  if (kind === 'Literal') return typeof schema.const;
  return ({ String: 'string', Number: 'number', Integer: 'number', Boolean: 'boolean', Null: 'null', Object: 'object', Array: 'array' } as Record<string, string>)[kind] ?? kind;
}

function jsType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function isSecret(schema: TSchema): boolean {
  return schema.token === true || schema.secret === true || ((schema.anyOf as TSchema[] | undefined) ?? []).some(isSecret);
}

/** `<key> must be … (got …); fix: …` */
function mismatch(schema: TSchema, value: unknown, path: Path, raw: unknown): string {
  const key = keyPath(raw, path);
  const name = String([...path].reverse().find((p) => typeof p === 'string') ?? '');
  if (schema[Kind] === 'Array' && isPlainObject(value)) {
    const keys = Object.keys(value);
    const shown = keys.slice(0, 5).join(', ') + (keys.length > 5 ? ', …' : '');
    const first = keys[0] ?? 'gpu1';
    const fix =
      schema.noun === 'hosts'
        ? `write each host as a list item with its name: \`- {name: ${first}, address: …}\``
        : `write it as a list: \`${name}: [ … ]\``;
    return `${key} must be ${noun(schema)}, not a mapping (got a mapping with key${keys.length === 1 ? '' : 's'} ${shown}); fix: ${fix}`;
  }
  return `${key} ${expected(schema)} (got ${got(value, isSecret(schema))}); fix: ${fixFor(schema, name)}`;
}

function noun(schema: TSchema): string {
  return schema.noun ? `a list of ${String(schema.noun)}` : 'a list';
}

/** What a schema wants, in words: "must be a string or null", "must be a whole number from 1 to 65535". */
function expected(schema: TSchema): string {
  if (typeof schema.expected === 'string') return schema.expected;
  const kind = schema[Kind] as string;
  const range = (what: string) => {
    const lo = schema.minimum as number | undefined;
    const hi = schema.maximum as number | undefined;
    const r = lo !== undefined && hi !== undefined ? ` from ${lo} to ${hi}` : lo !== undefined ? ` of at least ${lo}` : hi !== undefined ? ` of at most ${hi}` : '';
    return `must be ${what}${r}${schema.description ? ` (${String(schema.description)})` : ''}`;
  };
  switch (kind) {
    case 'Union':
      return `must be ${joinOr((schema.anyOf as TSchema[]).flatMap(nouns))}`;
    case 'Number':
      return range('a number');
    case 'Integer':
      return range('a whole number');
    case 'String': {
      const min = schema.minLength as number | undefined;
      const max = schema.maxLength as number | undefined;
      if (typeof schema.pattern === 'string') return `must be a string matching ${String(schema.pattern)}`;
      if (max !== undefined) return `must be a string of ${min ?? 0} to ${max} characters`;
      if (min !== undefined && min > 1) return `must be a string of at least ${min} characters`;
      return min === 1 ? 'must be a non-empty string' : 'must be a string';
    }
    case 'Object':
      return 'must be a mapping of settings (key: value)';
    case 'Array':
      return `must be ${noun(schema)}`;
    default:
      return `must be ${joinOr(nouns(schema))}`;
  }
}

function nouns(schema: TSchema): string[] {
  switch (schema[Kind] as string) {
    case 'Boolean':
      return ['true', 'false'];
    case 'Null':
      return ['null'];
    case 'Literal':
      return [`'${String(schema.const)}'`];
    case 'String':
      return ['a string'];
    case 'Number':
      return ['a number'];
    case 'Integer':
      return ['a whole number'];
    case 'Object':
      return ['a mapping'];
    case 'Array':
      return [noun(schema)];
    case 'Union':
      return (schema.anyOf as TSchema[]).flatMap(nouns);
    default:
      return [String(schema[Kind])];
  }
}

function joinOr(words: string[]): string {
  return words.length <= 1 ? (words[0] ?? '') : `${words.slice(0, -1).join(', ')} or ${words[words.length - 1]!}`;
}

function fixFor(schema: TSchema, key: string): string {
  if (typeof schema.fix === 'string') return schema.fix;
  const members = (schema.anyOf as TSchema[] | undefined) ?? [];
  const literal = members.find((m) => m[Kind] === 'Literal');
  const example: unknown = schema.example ?? (schema.default !== null && typeof schema.default !== 'object' ? schema.default : undefined) ?? literal?.const;
  if (schema[Kind] === 'Object') return `write it as a mapping, e.g. \`${key}: {}\` for every default`;
  if (example === undefined) return `write ${joinOr(nouns(schema))}`;
  const orNull = members.some((m) => m[Kind] === 'Null') && example !== null ? ` or \`${key}: null\`` : '';
  return `write e.g. \`${key}: ${yamlValue(example)}\`${orNull}`;
}

function yamlValue(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** The offending value, short; a secret shows only its shape. */
function got(value: unknown, secret: boolean): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (isPlainObject(value)) return 'a mapping';
  if (secret) return typeof value === 'string' ? `${value.length} characters` : `a ${typeof value}`;
  if (typeof value === 'number') return Number.isNaN(value) ? '.nan' : Number.isFinite(value) ? String(value) : value > 0 ? '.inf' : '-.inf';
  const s = JSON.stringify(value) ?? String(value);
  return s.length > 60 ? `${s.slice(0, 57)}…` : s;
}

function unknownKey(props: Record<string, TSchema>, key: string, path: Path, raw: unknown): Problem {
  const allowed = Object.keys(props);
  let fix = 'remove it';
  if (FORBIDDEN_KEYS.has(key)) fix = 'remove it (fleetmon never accepts __proto__, constructor or prototype keys)';
  else {
    const near = allowed.map((a) => [a, editDistance(a, key)] as const).sort((a, b) => a[1] - b[1])[0];
    if (near && near[1] <= 2 && near[1] < key.length) fix = `did you mean '${near[0]}'?`;
  }
  return {
    path,
    part: 'key',
    unknownKey: true,
    text: `unknown key '${keyPath(raw, path)}'` + (allowed.length ? `; expected one of: ${allowed.join(', ')}` : '') + `; fix: ${fix}`,
  };
}

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/** Problems between keys: duplicate host names, a critical GPU temperature below the warning one. */
function crossChecks(raw: Record<string, unknown>): Problem[] {
  const out: Problem[] = [];
  if (Array.isArray(raw.hosts)) {
    const seen = new Map<string, number>();
    raw.hosts.forEach((h: unknown, i) => {
      if (!isPlainObject(h) || typeof h.name !== 'string') return;
      const first = seen.get(h.name);
      if (first === undefined) seen.set(h.name, i);
      else {
        const path = ['hosts', i, 'name'];
        out.push({
          path,
          part: 'value',
          text: `${keyPath(raw, path)}: duplicate host name '${h.name}' (${keyPath(raw, ['hosts', first])} has it too); fix: give each host its own name`,
        });
      }
    });
  }
  out.push(...channelChecks(raw));
  const server = isPlainObject(raw.server) ? raw.server : {};
  if (Array.isArray(server.trusted_proxies)) {
    server.trusted_proxies.forEach((entry: unknown, i) => {
      if (typeof entry !== 'string' || entry === '' || isAddressOrCidr(entry)) return;
      const path = ['server', 'trusted_proxies', i];
      out.push({
        path,
        part: 'value',
        text: `${keyPath(raw, path)}: ${JSON.stringify(entry)} is not an IP address or CIDR; fix: write the proxy's address (127.0.0.1, ::1) or a network (10.0.0.0/24)`,
      });
    });
  }
  if (Array.isArray(server.public_names)) {
    server.public_names.forEach((entry: unknown, i) => {
      if (typeof entry !== 'string' || entry === '' || isIP(entry) !== 0 || isDnsName(entry)) return;
      const path = ['server', 'public_names', i];
      out.push({
        path,
        part: 'value',
        text: `${keyPath(raw, path)}: ${JSON.stringify(entry).slice(0, 80)} is not a host name or IP address; fix: write the bare name clients use (fleetmon.example.org, 192.168.1.5), without scheme, port or path`,
      });
    });
  }
  const alerts = isPlainObject(raw.alerts) ? raw.alerts : {};
  const props = AlertsConfigSchema.properties;
  const warning = alerts.gpu_temp_warning ?? props.gpu_temp_warning.default;
  const critical = alerts.gpu_temp_critical ?? props.gpu_temp_critical.default;
  if (typeof warning === 'number' && typeof critical === 'number' && critical < warning) {
    const path = ['alerts', Object.hasOwn(alerts, 'gpu_temp_critical') ? 'gpu_temp_critical' : 'gpu_temp_warning'];
    out.push({
      path,
      part: 'value',
      text: `alerts.gpu_temp_critical must not be below alerts.gpu_temp_warning (got ${critical} < ${warning}); fix: raise gpu_temp_critical or lower gpu_temp_warning`,
    });
  }
  return out;
}

/** Each channel type's own needs, duplicate channel names, time zones; a URL is never echoed (it may hold a key). */
export function channelChecks(raw: Record<string, unknown>, base: Path = ['notifications']): SchemaProblem[] {
  const out: Problem[] = [];
  let n: unknown = raw;
  for (const k of base) n = isPlainObject(n) ? n[String(k)] : undefined;
  if (!isPlainObject(n)) return out;
  if (!Array.isArray(n.channels)) return out;
  const seen = new Map<string, number>();
  n.channels.forEach((c: unknown, i) => {
    if (!isPlainObject(c) || typeof c.type !== 'string') return;
    const at = (...rest: Path): Path => [...base, 'channels', i, ...rest];
    const problem = (path: Path, part: Problem['part'], text: string) => out.push({ path, part, text: `${keyPath(raw, path)}${text.startsWith(':') ? '' : ' '}${text}` });
    if (typeof c.name === 'string') {
      const first = seen.get(c.name);
      if (first === undefined) seen.set(c.name, i);
      else problem(at('name'), 'value', `: duplicate channel name '${c.name}' (${keyPath(raw, [...base, 'channels', first])} has it too); fix: give each channel its own name`);
    }
    const sources = ['url', 'url_file', 'url_env'].filter((k) => Object.hasOwn(c, k));
    if (c.type === 'email') {
      for (const k of sources) problem(at(k), 'key', `is not used by an email channel; fix: remove it, and set smtp, from and to`);
      if (!Object.hasOwn(c, 'smtp')) problem(at('smtp'), 'parent', 'is required for an email channel: add `smtp: {host: smtp.example.org, port: 587}`');
      if (!Object.hasOwn(c, 'from')) problem(at('from'), 'parent', 'is required for an email channel: add `from: fleetmon@example.org`');
      if (!Array.isArray(c.to) || c.to.length === 0) problem(at('to'), Object.hasOwn(c, 'to') ? 'value' : 'parent', 'must list at least one recipient for an email channel: add `to: [oncall@example.org]`');
    } else {
      if (sources.length !== 1) {
        problem(sources.length > 1 ? at(sources[1]!) : at('url'), sources.length > 1 ? 'key' : 'parent', `: ${/^[aeiou]/.test(c.type) ? 'an' : 'a'} ${c.type} channel needs exactly one of url, url_file or url_env (got ${sources.length === 0 ? 'none' : sources.join(' and ')}); fix: add \`url: https://…\`, or keep the URL in a file (url_file) or an environment variable (url_env) when it holds a key`);
      }
      if (typeof c.url === 'string' && !/^https?:\/\/[^\s/]+/.test(c.url)) problem(at('url'), 'value', `must be an http:// or https:// URL (got ${c.url.length} characters); fix: write e.g. \`url: https://ntfy.sh/my-topic\``);
      for (const k of ['smtp', 'from', 'to']) if (Object.hasOwn(c, k)) problem(at(k), 'key', `is only for email channels; fix: remove it`);
    }
    if ((Object.hasOwn(c, 'secret_file') || Object.hasOwn(c, 'secret_env')) && c.type !== 'webhook') problem(at(Object.hasOwn(c, 'secret_file') ? 'secret_file' : 'secret_env'), 'key', 'signs webhook bodies only; fix: remove it, or use token_file for ntfy');
    if ((Object.hasOwn(c, 'token_file') || Object.hasOwn(c, 'token_env')) && c.type !== 'ntfy') problem(at(Object.hasOwn(c, 'token_file') ? 'token_file' : 'token_env'), 'key', 'is the ntfy access token only; fix: remove it');
    for (const [a, b] of [['secret_file', 'secret_env'], ['token_file', 'token_env']] as const) {
      if (Object.hasOwn(c, a) && Object.hasOwn(c, b)) problem(at(b), 'key', `and ${a} are both set; fix: keep one of them`);
    }
    const q = c.quiet_hours;
    if (isPlainObject(q) && typeof q.tz === 'string' && !validTimeZone(q.tz)) {
      problem(at('quiet_hours', 'tz'), 'value', `must be an IANA time zone (got ${JSON.stringify(q.tz).slice(0, 60)}); fix: write e.g. \`tz: Europe/Berlin\` or \`tz: UTC\``);
    }
    if (isPlainObject(q) && typeof q.from === 'string' && q.from === q.to) problem(at('quiet_hours', 'to'), 'value', 'must differ from quiet_hours.from (an empty window); fix: remove quiet_hours, or give it a length');
  });
  return out;
}

function validTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** A DNS name as a Host header carries it: dot-separated labels of letters, digits, hyphens (and underscores). */
function isDnsName(text: string): boolean {
  const name = text.replace(/\.$/, '');
  return name.length <= 253 && name.split('.').every((l) => /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/.test(l));
}

/** `10.0.0.1`, `::1`, `10.0.0.0/24`, `fd00::/8`: what Fastify's trustProxy (proxy-addr) takes as an address. */
export function isAddressOrCidr(text: string): boolean {
  const [address = '', prefix, ...rest] = text.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

/**
 * The one rule for API tokens (`server.token`, FLEETMON_TOKEN): at least TOKEN_MIN_LENGTH (32) characters, at least
 * TOKEN_MIN_DISTINCT (10) different ones, and not only digits, only lowercase or only uppercase letters. Returns
 * why a token is too weak, or undefined for a strong one. `openssl rand -hex 32` (64 characters) always passes.
 */
export function checkTokenStrength(token: string): string | undefined {
  if (token.length < TOKEN_MIN_LENGTH) return `it is ${token.length} characters long; a token needs at least ${TOKEN_MIN_LENGTH}`;
  const distinct = new Set(token).size;
  if (distinct < TOKEN_MIN_DISTINCT) {
    return `it uses only ${distinct} different character${distinct === 1 ? '' : 's'}; a token needs at least ${TOKEN_MIN_DISTINCT}`;
  }
  if (/^[0-9]+$/.test(token)) return 'it is only digits; a token needs letters too';
  if (/^[a-z]+$/.test(token)) return 'it is only lowercase letters; a token needs digits or other characters too';
  if (/^[A-Z]+$/.test(token)) return 'it is only uppercase letters; a token needs digits or other characters too';
  return undefined;
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

/**
 * Whether a host name or address is this machine's loopback: `localhost`, `::1` or a dotted IPv4 address in
 * 127.0.0.0/8. Only the exact forms: a name that merely starts with `127.` (`127.0.0.1.attacker.example`) is a
 * name anyone can point anywhere, which is what a DNS-rebinding page relies on.
 */
export function isLoopback(host: string): boolean {
  const name = host.toLowerCase().replace(/\.$/, '');
  if (name === 'localhost' || name === '::1' || name === '::ffff:127.0.0.1') return true;
  const octets = name.split('.');
  return octets.length === 4 && octets[0] === '127' && octets.every((o) => /^(0|[1-9]\d{0,2})$/.test(o) && Number(o) <= 255);
}

