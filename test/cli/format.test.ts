import { test } from 'node:test';
import assert from 'node:assert/strict';
import { activeReason, clip, MAX_COLUMN_WIDTH, safe, table } from '../../src/cli/format.js';

test('a 300-character name is clipped in its column and does not pad the other rows', () => {
  const long = 'n'.repeat(300);
  const out = table(['HOST', 'NAME', 'CPU'], [['gpu1', long, '1.0%'], ['gpu2', 'short', '2.0%']]);
  const lines = out.split('\n');
  assert.ok(lines.every((l) => [...l].length <= 4 + 2 + MAX_COLUMN_WIDTH + 2 + 4), out);
  assert.ok(lines[1]!.includes(`${'n'.repeat(MAX_COLUMN_WIDTH - 1)}…`));
  assert.equal(lines[2], `gpu2  short${' '.repeat(MAX_COLUMN_WIDTH - 5)}  2.0%`);
});

test('clip counts characters, not UTF-16 units, and leaves short text alone', () => {
  assert.equal(clip('ünï€', 4), 'ünï€');
  assert.equal(clip('ünï€x', 4), 'ünï…');
  assert.equal(clip('😀😀😀', 2), '😀…');
});

test('why a session is active says what tmux knows: attached, never attached, or detached a while ago', () => {
  assert.equal(activeReason({ attached: true, last_attached_at: '2026-12-01T10:00:00Z', detached_hours: 0 }), 'attached');
  assert.equal(activeReason({ attached: false, last_attached_at: null, detached_hours: 0.25 }), 'never attached, created 15 min ago');
  assert.equal(activeReason({ attached: false, last_attached_at: '2026-12-01T10:00:00Z', detached_hours: 5.2 }), 'detached 5.2 h ago');
});

test('safe keeps names tmux holds (UTF-8, its own escapes) and blanks what would rewrite or reorder the line', () => {
  for (const name of ['ünï€', 'uc-é', 'a\\\\b', 'nl\\nx', "it's", '$(x)']) assert.equal(safe(name), name);
  assert.equal(safe('a\x1b[2Jb'), 'a?[2Jb');
  // tmux keeps U+202E (right-to-left override) in a name as it is: printed raw, the rest of the line runs backwards.
  assert.equal(safe('run\u202egpj.exe'), 'run?gpj.exe');
  assert.equal(safe('x\u2066y\u2069\u200f'), 'x?y??');
});
