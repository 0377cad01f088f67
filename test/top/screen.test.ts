/**
 * What top sends the terminal: the first frame whole, then only the rows that changed (screen.ts). Checked on plain
 * rows and on real frames of the mock fleet as Ink renders them, with the bytes a redraw costs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { alert, h100Host, offlineHost, summaryOf } from '../helpers/mock-fleet.js';
import { renderOnce } from '../../src/top/app.js';
import { FrameSink, ScreenDiff } from '../../src/top/screen.js';
import { initialState, type TopState } from '../../src/top/view.js';

const CLEAR = '\u001b[0m\u001b[H\u001b[2J';
/** The rows a write addresses (CUP row;1H), in order. */
// eslint-disable-next-line no-control-regex -- the cursor-position escapes are what is counted
const rowsWritten = (bytes: string) => [...bytes.matchAll(/\u001b\[(\d+);1H/g)].map((m) => Number(m[1]));

test('the first frame clears the screen and writes every row; the same frame again writes nothing', () => {
  const diff = new ScreenDiff();
  const first = diff.next('alpha\nbeta\ngamma');
  assert.ok(first.startsWith(CLEAR));
  assert.deepEqual(rowsWritten(first), [1, 2, 3]);
  assert.equal(first, `${CLEAR}\u001b[1;1Halpha\u001b[K\u001b[2;1Hbeta\u001b[K\u001b[3;1Hgamma\u001b[K`);
  assert.equal(diff.next('alpha\nbeta\ngamma'), '');
});

test('only changed rows are written, each erased to its end; a shorter frame blanks the rows it lost', () => {
  const diff = new ScreenDiff();
  diff.next('alpha\nbeta long\ngamma\ndelta');
  assert.equal(diff.next('alpha\nbeta\ngamma\ndelta'), '\u001b[2;1Hbeta\u001b[K', 'a row that got shorter leaves nothing behind');
  assert.deepEqual(rowsWritten(diff.next('ALPHA\nbeta\ngamma\nDELTA')), [1, 4]);
  assert.equal(diff.next('ALPHA\nbeta'), '\u001b[3;1H\u001b[K\u001b[4;1H\u001b[K');
});

test('after invalidate (a resize) the next frame is written whole again', () => {
  const diff = new ScreenDiff();
  diff.next('alpha\nbeta');
  diff.invalidate();
  const again = diff.next('alpha\nbeta');
  assert.ok(again.startsWith(CLEAR));
  assert.deepEqual(rowsWritten(again), [1, 2]);
});

const now = Date.parse('2026-12-01T12:00:00Z');
function fleetState(o: Partial<TopState> = {}): TopState {
  const hosts = [h100Host(now), offlineHost(now)];
  const alerts = [alert('a-warn', now)];
  return { ...initialState(), hosts, alerts, summary: summaryOf(hosts, alerts, now), connection: 'live', lastUpdate: now - 2000, ...o };
}

test('real frames at 80×24: the clock tick sends one row, a new CPU figure two; each far less than a frame', (t) => {
  const diff = new ScreenDiff();
  const frameAt = (st: TopState, at: number) => renderOnce(st, 80, 24, true, at);
  const full = diff.next(frameAt(fleetState(), now));
  const tick = diff.next(frameAt(fleetState(), now + 1000));
  assert.deepEqual(rowsWritten(tick), [1], 'only the header row says "updated 3s ago"');
  const h100 = h100Host(now);
  const busier = fleetState({ hosts: [{ ...h100, cpu_percent: 87.5 }, offlineHost(now)] });
  const poll = diff.next(frameAt(busier, now + 1000));
  assert.ok(rowsWritten(poll).length >= 1 && rowsWritten(poll).length <= 2, `rows ${rowsWritten(poll).join(',')}`);
  assert.match(poll, /88%/);
  const fullBytes = Buffer.byteLength(full);
  const tickBytes = Buffer.byteLength(tick);
  const pollBytes = Buffer.byteLength(poll);
  assert.ok(tickBytes * 10 < fullBytes, `tick ${tickBytes} B vs frame ${fullBytes} B`);
  assert.ok(pollBytes * 5 < fullBytes, `poll ${pollBytes} B vs frame ${fullBytes} B`);
  t.diagnostic(`80×24: whole frame ${fullBytes} B, clock tick ${tickBytes} B, one host's CPU ${pollBytes} B`);
});

test('FrameSink: frames of one turn are written once (the last), sizes and resizes are the terminal\'s', async () => {
  const writes: string[] = [];
  const terminal = Object.assign(new EventEmitter(), {
    columns: 80,
    rows: 24,
    write: (s: string) => writes.push(s) > 0,
  }) as unknown as NodeJS.WriteStream;
  const sink = new FrameSink(terminal);
  assert.equal(sink.columns, 80);
  sink.write('one\ntwo');
  sink.write('one\nthree');
  await new Promise((r) => setImmediate(r));
  assert.equal(writes.length, 1);
  assert.match(writes[0]!, /three/);
  assert.doesNotMatch(writes[0]!, /two/);
  let resized = 0;
  sink.on('resize', () => resized++);
  Object.assign(terminal, { columns: 200, rows: 50 });
  terminal.emit('resize');
  assert.equal(resized, 1);
  assert.deepEqual([sink.columns, sink.rows], [200, 50]);
  sink.write('one\nthree');
  sink.close(); // flushes now: the last frame is not lost at exit
  assert.equal(writes.length, 2);
  assert.ok(writes[1]!.startsWith(CLEAR), 'after a resize the same frame is drawn whole');
  assert.deepEqual(sink.sent, { bytes: Buffer.byteLength(writes.join('')), writes: 2 });
  terminal.emit('resize');
  assert.equal(resized, 1, 'a closed sink no longer follows the terminal');
});
