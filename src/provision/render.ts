/**
 * Renders the files provisioning writes (systemd unit, hosts.yml, install scripts) from templates/ with a private
 * Handlebars instance: `noEscape` because nothing here is HTML, `strict` so a missing field is an error instead of
 * an empty string in a unit file. Each template has a typed data shape; values that land in a unit file or a shell
 * script pass through a helper that refuses characters those formats would interpret.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Handlebars from 'handlebars';
import { FleetmonError } from '../core/errors.js';
import { templatesDir } from '../paths.js';
import { shQuote } from '../core/shell-quote.js';

export interface ServiceUnitData {
  unitName: string;
  user: string;
  group: string;
  /** Absolute path of the node binary the service runs with. */
  nodePath: string;
  /** V8 flags before the script (SERVE_NODE_FLAGS). */
  nodeFlags: readonly string[];
  /** The installed release (a stable path, e.g. the `current` symlink). */
  appDir: string;
  configPath: string;
  /** Name under /var/lib for systemd's StateDirectory=. */
  stateDirectory: string;
  /** The dashboard's port is below 1024, so the service keeps CAP_NET_BIND_SERVICE (and only that). */
  bindsPrivilegedPort: boolean;
}

export interface HostsYmlData {
  unitName: string;
  sshUser: string;
  keyPath: string;
  listenHost: string;
  listenPort: number;
  /** Writes `server.tls: self-signed` (else no tls key: plain HTTP). */
  selfSignedTls: boolean;
  dataDir: string;
  /** Name of the container's own entry (monitored through the local transport). */
  localName: string;
}

export interface NodeSourceData {
  nodeMajor: number;
  keyArmored: string;
  keyFingerprint: string;
}

export interface CliWrapperData {
  nodePath: string;
  nodeFlags: readonly string[];
  appDir: string;
}

export interface TemplateData {
  'fleetmon.service': ServiceUnitData;
  'hosts.yml': HostsYmlData;
  'nodesource-install.sh': NodeSourceData;
  'fleetmon-cli.sh': CliWrapperData;
}
export type TemplateName = keyof TemplateData;
export const templateNames: TemplateName[] = ['fleetmon.service', 'hosts.yml', 'nodesource-install.sh', 'fleetmon-cli.sh'];

/** Characters a unit-file value or unquoted shell word may hold: no whitespace, `%` specifiers, `$`, quotes, `\`. */
const SAFE_WORD = /^[A-Za-z0-9_./@:+=,-]+$/;

function refuse(kind: string, value: unknown): never {
  throw new FleetmonError('TEMPLATE_UNSAFE_VALUE', `refusing to render ${kind} value ${JSON.stringify(value)}`, {
    kind: 'usage',
    suggestions: ['use plain names and absolute paths without spaces or special characters'],
  });
}

function createRenderer(): typeof Handlebars {
  const hb = Handlebars.create();
  // A JSON string is a valid YAML double-quoted scalar, so this is YAML-safe for any value.
  hb.registerHelper('json', (value: unknown) => JSON.stringify(value));
  // A list becomes space-separated words, each quoted or checked on its own.
  const words = (value: unknown, word: (v: unknown) => string) => (Array.isArray(value) ? value : [value]).map(word).join(' ');
  hb.registerHelper('shq', (value: unknown) => words(value, (v) => shQuote(String(v))));
  hb.registerHelper('unit', (value: unknown) => words(value, (v) => (SAFE_WORD.test(String(v)) ? String(v) : refuse('unit-file', v))));
  // Text placed inside a quoted here-document: it must not contain a line that would end the document early.
  hb.registerHelper('heredoc', (value: unknown) => {
    const s = String(value);
    return /^FLEETMON_\w*END$/m.test(s) ? refuse('here-document', value) : s.replace(/\n+$/, '');
  });
  hb.registerHelper('int', (value: unknown) => (Number.isSafeInteger(value) ? String(value) : refuse('integer', value)));
  return hb;
}

const hb = createRenderer();
const cache = new Map<string, { render: Handlebars.TemplateDelegate; fields: Set<string> }>();

/**
 * Handlebars' strict mode checks plain `{{field}}` lookups but not helper arguments (`{{unit field}}`) or block
 * conditions (`{{#if field}}`), so the fields a template uses are collected from its AST and required up front.
 */
function referencedFields(node: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(node)) {
    for (const n of node) referencedFields(n, out);
    return out;
  }
  if (!node || typeof node !== 'object') return out;
  const n = node as { type?: string; original?: string; path?: unknown; params?: unknown[]; body?: unknown[] };
  if (n.type === 'PathExpression' && typeof n.original === 'string') out.add(n.original.split(/[./]/)[0]!);
  if (n.type === 'MustacheStatement' || n.type === 'BlockStatement' || n.type === 'SubExpression') {
    // With arguments, the path names a helper; without, it names a field.
    if (!n.params?.length) referencedFields(n.path, out);
    referencedFields(n.params, out);
  }
  for (const key of ['body', 'program', 'inverse'] as const) {
    const child = (node as Record<string, unknown>)[key];
    if (child) referencedFields(child, out);
  }
  return out;
}

/** Renders templates/<name>.hbs. `dir` overrides the templates folder (tests). */
export function renderTemplate<K extends TemplateName>(name: K, data: TemplateData[K], dir = templatesDir): string {
  const file = join(dir, `${name}.hbs`);
  let compiled = cache.get(file);
  if (!compiled) {
    const src = readFileSync(file, 'utf8');
    compiled = { render: hb.compile(src, { noEscape: true, strict: true }), fields: referencedFields(hb.parse(src)) };
    cache.set(file, compiled);
  }
  const values = data as unknown as Record<string, unknown>;
  const missing = [...compiled.fields].filter((f) => values[f] === undefined || values[f] === null);
  if (missing.length > 0) {
    throw new FleetmonError('TEMPLATE_RENDER', `cannot render ${name}.hbs: missing ${missing.map((f) => `"${f}"`).join(', ')}`);
  }
  try {
    return compiled.render(data);
  } catch (err) {
    if (err instanceof FleetmonError) throw err;
    throw new FleetmonError('TEMPLATE_RENDER', `cannot render ${name}.hbs: ${(err as Error).message}`, { cause: err });
  }
}

/** Reads a static (non-template) asset shipped in templates/. */
export function readTemplateAsset(name: string, dir = templatesDir): string {
  return readFileSync(join(dir, name), 'utf8');
}
