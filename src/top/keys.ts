/**
 * The key map of `fleetmon top` as a pure function: a key and the state in, the next state and at most one effect
 * out (the app performs effects: quitting, calling the API). Tested as data in test/top/keys.test.ts.
 */
import type { Alert, Session } from '../core/model.js';
import { selectedAlert, selectedHost, selectedSession, visibleAlerts, visibleSessions, type Pane, type SortKey, type TopState } from './view.js';

/** The parts of Ink's key object this map reads. */
export interface KeyInfo {
  upArrow?: boolean;
  downArrow?: boolean;
  return?: boolean;
  escape?: boolean;
  tab?: boolean;
  backspace?: boolean;
  delete?: boolean;
  ctrl?: boolean;
}

export type Effect =
  | { kind: 'quit' }
  /** First step of the kill: ask the server, which answers with the session as it is now and a token. */
  | { kind: 'request-kill'; session: Session }
  | { kind: 'confirm-kill'; session: Session; token: string }
  | { kind: 'ack'; alert: Alert; note: string };

export interface KeyResult {
  state: TopState;
  effect?: Effect;
}

/** Text typed into the filter or a note: printable characters only (a control character would rewrite the screen). */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const printable = (s: string) => s.replace(/[\u0000-\u001f\u007f-\u009f]/g, '');

const PANES: Pane[] = ['sessions', 'alerts', 'hosts'];
const SORT_KEYS: Record<string, SortKey> = { c: 'cpu', m: 'memory', g: 'gpu', t: 'age' };

function count(st: TopState, pane: Pane): number {
  return pane === 'sessions' ? visibleSessions(st).length : pane === 'alerts' ? visibleAlerts(st.alerts).length : st.hosts.length;
}
const move = (st: TopState, by: number): TopState => {
  const n = count(st, st.pane);
  const at = Math.max(0, Math.min(n - 1, Math.min(st.selected[st.pane], n - 1) + by));
  return { ...st, selected: { ...st.selected, [st.pane]: at } };
};

/**
 * What Ink hands over from one read, as single key presses: typed-ahead keys ("xq", or "vict" then Enter, over a
 * slow link) each become their own press, Enter, Tab, Backspace and Esc among them as keys, not text. A chunk Ink
 * parsed as one special key (an arrow, Ctrl+…) stays whole.
 */
export function splitChunk(input: string, key: KeyInfo & { meta?: boolean }): Array<[string, KeyInfo]> {
  const chars = [...input];
  if (chars.length <= 1 || key.ctrl || key.meta) return [[input, key]];
  return chars.map((c): [string, KeyInfo] => {
    if (c === '\r' || c === '\n') return ['', { return: true }];
    if (c === '\t') return ['', { tab: true }];
    if (c === '\u007f' || c === '\b') return ['', { backspace: true }];
    if (c === '\u001b') return ['', { escape: true }];
    return [c, {}];
  });
}

export function onKey(st: TopState, input: string, key: KeyInfo): KeyResult {
  if (key.ctrl && input === 'c') return { state: st, effect: { kind: 'quit' } };
  const p = st.prompt;
  if (p?.kind === 'kill') {
    if (input === 'y' || input === 'Y') {
      if (p.step === 1 && p.session.status === 'active') return { state: { ...st, prompt: { ...p, step: 2 } } };
      return { state: { ...st, prompt: null, message: { text: `killing ${p.session.fleetmon_id}…`, tone: 'dim' } }, effect: { kind: 'confirm-kill', session: p.session, token: p.token } };
    }
    // Anything but y is no: the safe answer is the easy one.
    return { state: { ...st, prompt: null, message: { text: `not killed: ${p.session.fleetmon_id}` } } };
  }
  if (p?.kind === 'ack') {
    if (key.escape) return { state: { ...st, prompt: null, message: { text: 'not acknowledged' } } };
    if (key.return) return { state: { ...st, prompt: null, message: { text: `acknowledging ${p.alert.id}…`, tone: 'dim' } }, effect: { kind: 'ack', alert: p.alert, note: p.note.trim() } };
    if (key.backspace || key.delete) return { state: { ...st, prompt: { ...p, note: [...p.note].slice(0, -1).join('') } } };
    if (input && !key.ctrl && !key.tab && !key.upArrow && !key.downArrow) return { state: { ...st, prompt: { ...p, note: p.note + printable(input) } } };
    return { state: st };
  }
  if (st.filtering) {
    if (key.escape) return { state: { ...st, filtering: false, filter: '', selected: { ...st.selected, sessions: 0 } } };
    if (key.return) return { state: { ...st, filtering: false, pane: 'sessions' } };
    if (key.backspace || key.delete) return { state: { ...st, filter: [...st.filter].slice(0, -1).join(''), selected: { ...st.selected, sessions: 0 } } };
    if (input && !key.ctrl && !key.tab && !key.upArrow && !key.downArrow) return { state: { ...st, filter: st.filter + printable(input), selected: { ...st.selected, sessions: 0 } } };
    return { state: st };
  }
  if (st.help) return { state: { ...st, help: false } };
  if (input === 'q') return { state: st, effect: { kind: 'quit' } };
  if (input === '?') return { state: { ...st, help: true } };
  if (st.detail !== null) {
    if (key.escape || key.return || key.backspace) return { state: { ...st, detail: null } };
    return { state: st };
  }
  const cleared = { ...st, message: null };
  if (key.upArrow) return { state: move(cleared, -1) };
  if (key.downArrow) return { state: move(cleared, 1) };
  if (key.tab) return { state: { ...cleared, pane: PANES[(PANES.indexOf(st.pane) + 1) % PANES.length]! } };
  const sort = SORT_KEYS[input];
  if (sort) return { state: { ...cleared, sort, selected: { ...st.selected, sessions: 0 } } };
  if (input === '/') return { state: { ...cleared, filtering: true, pane: 'sessions' } };
  if (key.escape && st.filter) return { state: { ...cleared, filter: '', selected: { ...st.selected, sessions: 0 } } };
  if (key.return) {
    const host =
      st.pane === 'hosts' ? selectedHost(st)?.hostname : st.pane === 'alerts' ? selectedAlert(st)?.host : selectedSession(st)?.host;
    return host === undefined ? { state: cleared } : { state: { ...cleared, detail: host } };
  }
  if (input === 'a') {
    const alert = selectedAlert(st);
    if (!alert) return { state: { ...st, message: { text: 'no open alert to acknowledge' } } };
    if (st.pane !== 'alerts') return { state: { ...st, pane: 'alerts', message: { text: 'alerts pane: select the alert, then a' } } };
    if (alert.acknowledged) return { state: { ...st, message: { text: `already acknowledged: ${alert.message}` } } };
    return { state: { ...cleared, prompt: { kind: 'ack', alert, note: '' } } };
  }
  if (input === 'k' || input === 'K') {
    if (st.pane === 'sessions') {
      const s = selectedSession(st);
      if (!s) return { state: { ...st, message: { text: 'no session selected' } } };
      return { state: { ...cleared, message: { text: `asking the server about ${s.fleetmon_id}…`, tone: 'dim' } }, effect: { kind: 'request-kill', session: s } };
    }
    return { state: { ...st, message: { text: 'k kills the selected session: Tab to the sessions pane first' } } };
  }
  return { state: st };
}
