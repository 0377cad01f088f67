/**
 * Pure text work for the fleet key: parsing an OpenSSH public key, the restricted authorized_keys line, and the
 * marked block fleetmon owns inside ~fleetmon/.ssh/authorized_keys (replaced in place, removed by revoke, never
 * duplicated; lines of other keys are kept as they are).
 */
import { FleetmonError } from '../core/errors.js';
import { fingerprintOf } from '../ssh/fingerprint.js';

export const BLOCK_BEGIN = '# >>> fleetmon managed key: written by `fleetmon keys deploy`, removed by `fleetmon keys revoke`; do not edit';
export const BLOCK_END = '# <<< fleetmon managed key';

const KEY_TYPES = new Set([
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'ssh-rsa',
]);

export interface PublicKey {
  type: string;
  /** The key blob, base64 as in the .pub file. */
  data: string;
  comment: string;
  /** SHA256:… of the blob, as ssh-keygen -lf prints it. */
  fingerprint: string;
}

/** Parses one OpenSSH public key line (the content of a .pub file), checking the blob matches its type. */
export function parsePublicKey(text: string): PublicKey {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  const bad = (why: string) =>
    new FleetmonError('BAD_PUBLIC_KEY', `not an OpenSSH public key: ${why}`, {
      kind: 'usage',
      suggestions: ['pass the server\'s .pub file with --key, or take it from the server with --from-server URL'],
    });
  if (lines.length !== 1) throw bad(lines.length === 0 ? 'empty' : 'more than one key');
  const [type, data, ...rest] = lines[0]!.split(/\s+/);
  if (!type || !data) throw bad('expected "TYPE BASE64 [COMMENT]"');
  if (!KEY_TYPES.has(type)) throw bad(`unsupported key type ${type}`);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(data)) throw bad('the key data is not base64');
  const blob = Buffer.from(data, 'base64');
  const len = blob.length >= 4 ? blob.readUInt32BE(0) : -1;
  if (len <= 0 || blob.length < 4 + len || blob.subarray(4, 4 + len).toString('latin1') !== type) {
    throw bad(`the key data does not hold a ${type} key`);
  }
  return { type, data, comment: rest.join(' '), fingerprint: fingerprintOf(blob) };
}

/** Characters allowed in the key comment, libDir and from= inside an authorized_keys line (no quotes, no spaces). */
const SAFE_COMMENT = /^[A-Za-z0-9._@+-]{1,100}$/;
const SAFE_PATH = /^\/[A-Za-z0-9._/-]+$/;
const SAFE_FROM = /^[A-Za-z0-9.:/*?!,_-]{1,500}$/;

export interface KeyLineOptions {
  /** Directory holding the gate; the forced command is <libDir>/gate. */
  libDir: string;
  /** `from="…"` pattern-list limiting where the key may be used from. */
  from?: string;
  /** Comment to use when the key has none or an unsafe one. */
  defaultComment: string;
}

/** The authorized_keys line: `restrict` (no PTY, forwarding, agent, X11, rc) plus the gate as forced command. */
export function restrictedKeyLine(key: PublicKey, opts: KeyLineOptions): string {
  if (!SAFE_PATH.test(opts.libDir)) throw new FleetmonError('BAD_LIB_DIR', `unsafe gate directory ${JSON.stringify(opts.libDir)}`);
  const options = ['restrict', `command="${opts.libDir.replace(/\/+$/, '')}/gate"`];
  if (opts.from !== undefined) {
    if (!SAFE_FROM.test(opts.from)) {
      throw new FleetmonError('BAD_FROM', `--from must be a comma-separated list of addresses or patterns, got ${JSON.stringify(opts.from)}`);
    }
    options.push(`from="${opts.from}"`);
  }
  const comment = SAFE_COMMENT.test(key.comment) ? key.comment : opts.defaultComment;
  return `${options.join(',')} ${key.type} ${key.data} ${comment}`;
}

function splitLines(text: string): string[] {
  if (text === '') return [];
  return text.replace(/\n$/, '').split('\n');
}

/** True when an authorized_keys line (outside our block) carries this key blob, whatever its options. */
function carriesKey(line: string, key: PublicKey): boolean {
  const t = line.trim();
  if (t === '' || t.startsWith('#')) return false;
  return t.split(/\s+/).includes(key.data);
}

export interface BlockEdit {
  text: string;
  changed: boolean;
  /** Other lines that carried the same key (e.g. an unrestricted copy from an older setup) and were removed. */
  removedDuplicates: number;
  /** Lines for other keys, kept as they were. */
  otherKeys: number;
}

/** Puts exactly one managed block with `line` in the file, in place of any existing one(s). */
export function applyManagedBlock(existing: string, line: string, key: PublicKey): BlockEdit {
  const out: string[] = [];
  let inserted = false;
  let inBlock = false;
  let removedDuplicates = 0;
  let otherKeys = 0;
  const block = [BLOCK_BEGIN, line, BLOCK_END];
  for (const l of splitLines(existing)) {
    if (l === BLOCK_BEGIN) {
      inBlock = true;
      if (!inserted) {
        out.push(...block);
        inserted = true;
      }
      continue;
    }
    if (inBlock) {
      if (l === BLOCK_END) inBlock = false;
      continue;
    }
    if (carriesKey(l, key)) {
      removedDuplicates++;
      continue;
    }
    if (l.trim() !== '' && !l.trim().startsWith('#')) otherKeys++;
    out.push(l);
  }
  if (!inserted) out.push(...block);
  const text = `${out.join('\n')}\n`;
  return { text, changed: text !== existing, removedDuplicates, otherKeys };
}

/** Removes the managed block(s); `removed` says whether there was one. */
export function removeManagedBlock(existing: string): { text: string; removed: boolean } {
  const out: string[] = [];
  let inBlock = false;
  let removed = false;
  for (const l of splitLines(existing)) {
    if (l === BLOCK_BEGIN) {
      inBlock = true;
      removed = true;
      continue;
    }
    if (inBlock) {
      if (l === BLOCK_END) inBlock = false;
      continue;
    }
    out.push(l);
  }
  if (!removed) return { text: existing, removed: false };
  return { text: out.length ? `${out.join('\n')}\n` : '', removed };
}

/** The key line inside the managed block, if any. */
export function managedKeyLine(existing: string): string | null {
  const lines = splitLines(existing);
  const i = lines.indexOf(BLOCK_BEGIN);
  if (i < 0 || lines[i + 2] !== BLOCK_END) return null;
  return lines[i + 1] ?? null;
}
