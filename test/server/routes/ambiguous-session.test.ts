/**
 * An id that names more than one session is refused with 409, never resolved to one of them. Real probe, real
 * tmux, through the local transport; the host's tmux is wrapped so that it ignores `-u`, as a tmux without a
 * UTF-8 client would, and so lists `uc-é` and `uc-_` under the one name `uc-_`: the collision a kill must not guess.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import type { FastifyInstance } from 'fastify';
import { parseConfigObject } from '../../../src/core/config.js';
import type { Session } from '../../../src/core/model.js';
import { buildApp } from '../../../src/server/app.js';
import { Monitor } from '../../../src/server/monitor.js';
import { closeDatabase, openDatabase, type Db } from '../../../src/server/store/db.js';
import { tempDir } from '../../helpers/common.js';

const TOKEN = 'test-token-0123456789abcdef';
const auth = { authorization: `Bearer ${TOKEN}` };
const tmp = tempDir();
const tmuxDir = tempDir('fleetmon-tmux-');
const bin = tempDir('fleetmon-bin-');
const realTmux = spawnSync('sh', ['-c', 'command -v tmux'], { encoding: 'utf8' }).stdout.trim();
let db: Db;
let monitor: Monitor;
let app: FastifyInstance;

const tmux = (args: string[]) => spawnSync(realTmux, args, { env: { ...process.env, TMUX_TMPDIR: tmuxDir.path }, encoding: 'utf8' });
const alive = () => tmux(['-u', 'list-sessions', '-F', '#{session_name}']).stdout.split('\n').filter(Boolean).sort();

before(async () => {
  process.env.TMUX_TMPDIR = tmuxDir.path;
  // Drops every -u and runs under LC_ALL=C: tmux then prints each non-ASCII character as '_'.
  writeFileSync(
    join(bin.path, 'tmux'),
    `#!/bin/sh\nfor a; do shift; [ "$a" = -u ] || set -- "$@" "$a"; done\nLC_ALL=C exec ${realTmux} "$@"\n`,
  );
  chmodSync(join(bin.path, 'tmux'), 0o755);
  process.env.PATH = `${bin.path}:${process.env.PATH}`;
  for (const name of ['uc-é', 'uc-_', 'plain']) assert.equal(tmux(['new-session', '-d', '-s', name, 'sleep 600']).status, 0);
  const config = parseConfigObject(
    { polling_interval_seconds: 1, hosts: [{ name: 'local', address: 'localhost', transport: 'local' }], server: { public_read: false } },
    'test',
  );
  db = openDatabase(tmp.path).db;
  monitor = new Monitor({ config, db, log: pino({ level: 'silent' }) });
  app = await buildApp({ config, monitor, db, token: TOKEN });
  await monitor.poller.runCycle();
});

after(async () => {
  await app.close();
  await monitor.stop();
  closeDatabase(db);
  tmux(['kill-server']);
  for (const d of [tmp, tmuxDir, bin]) d.remove();
});

test('two sessions listed under one id: reading and killing it answer 409 naming both, and both live on', async () => {
  const sessions = (await app.inject({ url: '/api/sessions', headers: auth })).json<Session[]>();
  const dup = sessions.filter((s) => s.name === 'uc-_');
  assert.equal(dup.length, 2, 'the wrapped tmux collapsed the names');
  const id = dup[0]!.id;
  for (const req of [
    { method: 'GET' as const, url: `/api/sessions/${encodeURIComponent(id)}` },
    { method: 'POST' as const, url: `/api/sessions/${encodeURIComponent(id)}/kill`, payload: {} },
  ]) {
    const res = await app.inject({ ...req, headers: auth });
    assert.equal(res.statusCode, 409, res.body);
    const body = res.json<{ error: string; code: string; matches: Array<{ id: string; created_at: string }> }>();
    assert.equal(body.code, 'AMBIGUOUS_SESSION_ID');
    assert.deepEqual(body.matches.map((m) => m.id), [id, id]);
    assert.match(body.error, /matches 2 sessions .*rename one there/);
  }
  assert.deepEqual(alive(), ['plain', 'uc-_', 'uc-é']);
  const audit = (await app.inject({ url: '/api/audit', headers: auth })).json<Array<{ action: string; result: string }>>();
  assert.ok(audit.some((a) => a.action === 'kill' && a.result === 'ambiguous'));
  // An id that names one session still works.
  const plain = sessions.find((s) => s.name === 'plain')!;
  assert.equal((await app.inject({ url: `/api/sessions/${encodeURIComponent(plain.id)}`, headers: auth })).statusCode, 200);
});
