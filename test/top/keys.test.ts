/** The key map of `fleetmon top` as data: state and key in, state and effect out. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { alert, h100Host, session, summaryOf } from '../helpers/mock-fleet.js';
import { onKey, splitChunk, type KeyInfo } from '../../src/top/keys.js';
import { initialState, selectedSession, type TopState } from '../../src/top/view.js';

const now = Date.parse('2026-12-01T12:00:00Z');
function st(o: Partial<TopState> = {}): TopState {
  const hosts = [h100Host(now)];
  const alerts = [alert('a1', now)];
  return { ...initialState(), hosts, alerts, summary: summaryOf(hosts, alerts, now), connection: 'live', ...o };
}
/** Types keys one after another: a string is its characters, an object one special key. */
function press(s: TopState, ...keys: Array<string | KeyInfo>) {
  let cur = s;
  const effects = [];
  for (const k of keys) {
    for (const [input, key] of typeof k === 'string' ? [...k].map((c) => [c, {}] as const) : [['', k] as const]) {
      const r = onKey(cur, input, key);
      cur = r.state;
      if (r.effect) effects.push(r.effect);
    }
  }
  return { state: cur, effects };
}

test('q and Ctrl+C quit; ? opens the key list and any key closes it', () => {
  assert.deepEqual(press(st(), 'q').effects, [{ kind: 'quit' }]);
  assert.deepEqual(onKey(st(), 'c', { ctrl: true }).effect, { kind: 'quit' });
  const help = press(st(), '?');
  assert.equal(help.state.help, true);
  assert.equal(press(help.state, 'x').state.help, false);
});

test('c m g t sort; arrows move the selection within the list; Tab moves between panes', () => {
  assert.equal(press(st(), 'm').state.sort, 'memory');
  assert.equal(press(st(), 'g').state.sort, 'gpu');
  assert.equal(press(st(), 't').state.sort, 'age');
  assert.equal(press(st({ sort: 'age' }), 'c').state.sort, 'cpu');
  const down = press(st(), { downArrow: true }, { downArrow: true });
  assert.equal(selectedSession(down.state)?.name, 'idle-shell');
  assert.equal(press(st(), ...Array(10).fill({ downArrow: true })).state.selected.sessions, 3, 'stops at the last row');
  assert.equal(press(st(), { upArrow: true }).state.selected.sessions, 0);
  assert.equal(press(st(), { tab: true }).state.pane, 'alerts');
  assert.equal(press(st(), { tab: true }, { tab: true }, { tab: true }).state.pane, 'sessions');
});

test('/ takes the filter text; Enter keeps it, Esc clears it; typed q is filter text, not quit', () => {
  const typed = press(st(), '/', 'llq', { backspace: true }, 'a');
  assert.equal(typed.state.filter, 'lla');
  assert.equal(typed.state.filtering, true);
  assert.deepEqual(typed.effects, []);
  const kept = press(typed.state, { return: true });
  assert.equal(kept.state.filtering, false);
  assert.equal(kept.state.filter, 'lla');
  assert.equal(selectedSession(kept.state)?.name, 'train-llama');
  assert.equal(press(typed.state, { escape: true }).state.filter, '');
  assert.equal(press(st(), '/', 'a\rb\u001b[2Jc').state.filter, 'ab[2Jc', 'control characters never reach the screen');
});

test('Enter opens the host of the selection; Esc goes back', () => {
  const open = press(st(), { return: true });
  assert.equal(open.state.detail, 'gpu-h100');
  assert.equal(press(open.state, { escape: true }).state.detail, null);
});

test('k asks the server first (request-kill) for the selected session; y on a legacy session kills at once', () => {
  const s = st({ sort: 'age' });
  const k = press(s, 'k');
  assert.equal(k.effects.length, 1);
  assert.equal(k.effects[0]!.kind, 'request-kill');
  const legacy = session('gpu-h100', 'idle-shell', now, { status: 'legacy' });
  const asked = { ...s, prompt: { kind: 'kill' as const, session: legacy, token: 'tok', step: 1 as const } };
  assert.deepEqual(press(asked, 'y').effects, [{ kind: 'confirm-kill', session: legacy, token: 'tok' }]);
  const no = press(asked, 'n');
  assert.deepEqual(no.effects, []);
  assert.equal(no.state.prompt, null);
  assert.match(no.state.message!.text, /^not killed: gpu-h100:root:idle-shell$/);
});

test('an active session needs a second y; anything else at either step keeps it', () => {
  const active = session('gpu-h100', 'train-llama', now, { status: 'active', attached: true, attached_clients: 1 });
  const asked = st({ prompt: { kind: 'kill', session: active, token: 'tok', step: 1 } });
  const once = press(asked, 'y');
  assert.deepEqual(once.effects, []);
  assert.equal(once.state.prompt?.kind === 'kill' && once.state.prompt.step, 2);
  assert.deepEqual(press(once.state, 'y').effects, [{ kind: 'confirm-kill', session: active, token: 'tok' }]);
  assert.deepEqual(press(once.state, { return: true }).effects, [], 'Enter is no');
  assert.equal(press(once.state, { return: true }).state.prompt, null);
});

test('a in the alerts pane acknowledges the selected alert with the note typed; Esc cancels', () => {
  const a = press(st(), { tab: true }, 'a');
  assert.equal(a.state.prompt?.kind, 'ack');
  const done = press(a.state, 'on it q', { return: true });
  assert.deepEqual(done.effects, [{ kind: 'ack', alert: st().alerts[0], note: 'on it q' }]);
  assert.deepEqual(press(a.state, { return: true }).effects, [{ kind: 'ack', alert: st().alerts[0], note: '' }], 'the note is optional');
  assert.deepEqual(press(a.state, 'x', { escape: true }).effects, []);
  const fromSessions = press(st(), 'a');
  assert.equal(fromSessions.state.pane, 'alerts', 'a elsewhere moves to the alerts pane first');
  assert.equal(fromSessions.state.prompt, null);
});

test('keys that arrive in one read are pressed one by one, Enter and Esc as keys', () => {
  assert.deepEqual(splitChunk('xq', {}), [['x', {}], ['q', {}]]);
  assert.deepEqual(splitChunk('ab\r', {}), [['a', {}], ['b', {}], ['', { return: true }]]);
  assert.deepEqual(splitChunk('\u001b\t', {}), [['', { escape: true }], ['', { tab: true }]]);
  assert.deepEqual(splitChunk('', { upArrow: true }), [['', { upArrow: true }]]);
  // "/vict" then Enter in one read: the filter is "vict" and it is kept.
  let s = st();
  for (const [i, k] of splitChunk('/vict\r', {})) s = onKey(s, i, k).state;
  assert.equal(s.filter, 'vict');
  assert.equal(s.filtering, false);
});
