/**
 * Session names from real tmux bytes (test/fixtures/tmux-names/, captured with the probe's own command): read
 * exactly as tmux stores them, whichever chunks the stream arrives in, and distinct where tmux has them distinct.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { parseTmux } from '../../../src/server/collector/parse.js';
import { testDir } from '../../helpers/common.js';

const capture = (file: string) => readFileSync(join(testDir, 'fixtures', 'tmux-names', file));

/** The names as created, in the form tmux stores (and every tmux command matches) them. */
const STORED = ['ünï€', 'uc-é', 'uc-_', 'a\\\\b', "it's", '$(x)', 'nl\\nx', 'bad\\377x', 'a|b', 'n'.repeat(300)];

/** What the probe channel does: a UTF-8 StringDecoder over the stream, here fed one byte at a time. */
function decodeInChunks(bytes: Buffer, size: number): string {
  const d = new StringDecoder('utf8');
  let text = '';
  for (let i = 0; i < bytes.length; i += size) text += d.write(bytes.subarray(i, i + size));
  return text + d.end();
}

test('names from tmux -u are read byte for byte, even when a character is split across chunks', () => {
  const bytes = capture('list-utf8.txt');
  for (const size of [1, 3, bytes.length]) {
    const { sessions, panes } = parseTmux(decodeInChunks(bytes, size));
    assert.deepEqual(sessions.map((s) => s.name).sort(), [...STORED].sort());
    for (const s of sessions) assert.equal(panes.filter((p) => p.sessionId === s.sessionId).length, 1, s.name);
    const ue = sessions.find((s) => s.name === 'ünï€')!;
    assert.deepEqual(Buffer.from(ue.name, 'utf8'), Buffer.from([0xc3, 0xbc, 0x6e, 0xc3, 0xaf, 0xe2, 0x82, 0xac]));
  }
});

test('uc-é and uc-_ stay two names, each with its own tmux id', () => {
  const { sessions } = parseTmux(capture('list-utf8.txt').toString('utf8'));
  const uc = sessions.filter((s) => s.name.startsWith('uc-'));
  assert.deepEqual(uc.map((s) => s.name).sort(), ['uc-_', 'uc-é']);
  assert.notEqual(uc[0]!.sessionId, uc[1]!.sessionId);
});

test('the same sessions listed without -u (C locale) lose their names: why the probe passes -u', () => {
  const { sessions } = parseTmux(capture('list-c-locale.txt').toString('utf8'));
  const names = sessions.map((s) => s.name);
  assert.equal(names.filter((n) => n === 'uc-_').length, 2, 'uc-é is printed as uc-_');
  assert.ok(names.includes('_n__') && !names.includes('ünï€'));
});
