/**
 * The contract: a client written against the TMUX Fleet Dashboard specification reads every field it expects.
 * A real server polls a real SSH fleet (sshd + tmux per fake host, one replaying the H100 capture); every answer
 * of /api/hosts, /api/hosts/{hostname}, /api/sessions, /api/sessions/{id}, /api/alerts and the /ws events is
 * held against the specification's models (spec-models.ts, written independently of src/) and against the
 * server's own OpenAPI document, which must itself validate.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { WebSocket } from 'ws';
import { parseConfigObject } from '../../src/core/config.js';
import { ALERT_TYPES } from '../../src/core/model.js';
import { startServer, type RunningServer } from '../../src/server/start.js';
import { fleetConfigSection, startFleet, type Fleet } from '../fleet/fleet.js';
import { tempDir, waitFor } from '../helpers/common.js';
import { ResponseChecker, openApiProblems, specFieldsSeen, specProblems, type OpenApiDoc } from './check.js';
import { SPEC_ALERT_TYPES, SPEC_EVENTS, SPEC_MODELS } from './spec-models.js';

let fleet: Fleet;
let server: RunningServer;
let doc: OpenApiDoc;
let checker: ResponseChecker;
const data = tempDir();
const TOKEN = 'contract-test-token-0123456789abcdefXYZ';
const seen = new Set<string>();

async function get(path: string): Promise<{ status: number; body: unknown; headers: Headers }> {
  const res = await fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  return { status: res.status, body: await res.json(), headers: res.headers };
}

/** One answer against both: the specification's model and the OpenAPI document's schema for that operation. */
function holds(template: string, specType: string, body: unknown): void {
  assert.deepEqual(specProblems(specType, body), [], `${template} against the specification's ${specType}`);
  assert.deepEqual(checker.problems(template, 'get', 200, body), [], `${template} against the OpenAPI document`);
  specFieldsSeen(specType, body, seen);
}

before(async () => {
  fleet = await startFleet({ hosts: [{ name: 'gpu0', gpu: true }, { name: 'cpu1' }] });
  const gpu = fleet.host('gpu0');
  await gpu.newSession('train-llama', ['sleep 600']);
  await fleet.host('cpu1').newSession('notebook', ['sleep 600']);
  const panes = await gpu.tmux(['list-panes', '-a', '-F', '#{session_name}|#{pane_pid}']);
  const pid = Number(panes.stdout.trim().split('\n')[0]!.split('|')[1]);
  gpu.setGpuApps([{ pid, processName: 'python3', usedMemoryMiB: 21130 }]);
  const section = fleetConfigSection(fleet);
  const config = parseConfigObject(
    {
      polling_interval_seconds: 1,
      legacy_threshold_hours: 0.0005, // under 2 s detached: legacy_session alerts come and go within the test
      alerts: { gpu_temp_warning: 60 },
      ssh: { ...section.ssh, timeout: 3, reconnect_max_seconds: 1 },
      server: { port: 0, data_dir: data.path, token: TOKEN },
      hosts: section.hosts,
    },
    'contract-test',
  );
  server = await startServer(config, { log: pino({ level: 'silent' }) });
  doc = (await get('/openapi.json')).body as OpenApiDoc;
  checker = new ResponseChecker(doc);
  // Two polls, so that CPU figures (deltas) are numbers rather than the first poll's null.
  await waitFor(async () => {
    const hosts = (await get('/api/hosts')).body as Array<{ status: string; cpu_percent: number | null }>;
    return hosts.every((h) => h.status === 'online' && h.cpu_percent !== null);
  }, 20_000, 'both hosts online with CPU figures');
});

after(async () => {
  await server?.close();
  await fleet?.stop();
  data.remove();
});

test('the OpenAPI document at /openapi.json is a valid OpenAPI 3.1 document describing every REST path', async () => {
  assert.equal(doc.openapi, '3.1.0');
  assert.deepEqual(await openApiProblems(doc), []);
  for (const p of ['/api/hosts', '/api/hosts/{hostname}', '/api/sessions', '/api/sessions/{id}', '/api/alerts']) assert.ok(doc.paths[p]?.get, p);
});

test('GET /api/hosts and /api/hosts/{hostname}: the specification\'s Host, GPU and GPU process fields', async () => {
  const hosts = (await get('/api/hosts')).body as Array<{ hostname: string; gpus: unknown[] }>;
  holds('/api/hosts', 'Host[]', hosts);
  assert.deepEqual(hosts.map((h) => h.hostname), ['gpu0', 'cpu1']);
  assert.equal(hosts[0]!.gpus.length, 1, 'the GPU model is exercised by a real reading');
  for (const h of hosts) {
    const one = await get(`/api/hosts/${encodeURIComponent(h.hostname)}`);
    assert.equal(one.status, 200);
    holds('/api/hosts/{hostname}', 'Host', one.body);
  }
});

test("fleetmon's sessions_scope and the GPU processes' owners: in every host answer, in /ws, and required by the OpenAPI document", async () => {
  type H = { hostname: string; sessions_scope: { scope: string; reason: string | null }; sessions: Array<{ fleetmon_id: string; user: string }>; gpus: Array<Record<string, unknown> & { processes: Array<Record<string, unknown>> }> };
  const hosts = (await get('/api/hosts')).body as H[];
  for (const h of hosts) {
    // This fleet has no all-users helper: each host says it sees the service account only, and why.
    assert.equal(h.sessions_scope.scope, 'own-account', h.hostname);
    assert.match(h.sessions_scope.reason ?? '', /no all-users helper installed/);
    assert.deepEqual(((await get(`/api/hosts/${h.hostname}`)).body as H).sessions_scope, h.sessions_scope);
  }
  const gpu0 = hosts[0]!;
  const proc = gpu0.gpus[0]!.processes[0]!;
  const session = gpu0.sessions.find((s) => s.fleetmon_id === `gpu0:${s.user}:train-llama`)!;
  assert.deepEqual([proc.session_id, proc.user, typeof proc.uid, proc.cmdline], [session.fleetmon_id, session.user, 'number', 'sh -c sleep 600'], 'the pane process tmux started for the command');
  assert.equal(gpu0.gpus[0]!.memory_outside_sessions_mb, 0, 'its only process is in a session');
  // The document requires the fields (a body without them is refused), so clients can rely on them.
  const without = (drop: (h: H) => void) => {
    const copy = structuredClone(hosts);
    drop(copy[0]!);
    return checker.problems('/api/hosts', 'get', 200, copy).join('\n');
  };
  assert.match(without((h) => delete (h as Partial<H>).sessions_scope), /sessions_scope/);
  assert.match(without((h) => delete h.gpus[0]!.processes[0]!.user), /user/);
  assert.match(without((h) => delete h.gpus[0]!.processes[0]!.cmdline), /cmdline/);
  assert.match(without((h) => delete h.gpus[0]!.memory_outside_sessions_mb), /memory_outside_sessions_mb/);
});

test('GET /api/sessions and /api/sessions/{id} by either id', async () => {
  const sessions = (await get('/api/sessions')).body as Array<{ id: string; fleetmon_id: string }>;
  holds('/api/sessions', 'Session[]', sessions);
  assert.ok(sessions.length >= 2);
  for (const s of sessions) {
    for (const [id, kind] of [[s.id, 'id'], [s.fleetmon_id, 'fleetmon_id']] as const) {
      const one = await get(`/api/sessions/${encodeURIComponent(id)}`);
      assert.equal(one.status, 200, id);
      assert.equal(one.headers.get('fleetmon-matched-id'), kind);
      holds('/api/sessions/{id}', 'Session', one.body);
    }
  }
});

test('GET /api/alerts: the specification\'s Alert; fleetmon\'s alert types only extend the specification\'s', async () => {
  const alerts = await waitFor(async () => {
    const list = (await get('/api/alerts?state=all')).body as Array<{ type: string }>;
    return list.some((a) => a.type === 'gpu_temp_warning') && list.some((a) => a.type === 'legacy_session') ? list : null;
  }, 10_000, 'GPU and legacy alerts');
  holds('/api/alerts', 'Alert[]', alerts);
  assert.deepEqual(ALERT_TYPES.slice(0, SPEC_ALERT_TYPES.length), [...SPEC_ALERT_TYPES], 'the specification\'s types come first, unchanged');
  for (const a of alerts) assert.ok((ALERT_TYPES as readonly string[]).includes(a.type), a.type);
});

test('/ws: hosts_update, alert_new and alert_cleared carry the specification\'s models', async () => {
  const events: Array<{ event: string; data: unknown }> = [];
  const ws = new WebSocket(`${server.url.replace(/^http/, 'ws')}/ws`, { headers: { authorization: `Bearer ${TOKEN}` } });
  ws.on('message', (raw: Buffer) => events.push(JSON.parse(raw.toString()) as { event: string; data: unknown }));
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  try {
    // A session that turns legacy raises alert_new; ending it clears that alert.
    await fleet.host('cpu1').newSession('contract-new', ['sleep 600']);
    const raised = await waitFor(async () => events.find((e) => e.event === 'alert_new' && (e.data as { session: string | null }).session === 'cpu1:contract-new'), 10_000, 'alert_new');
    await fleet.host('cpu1').tmux(['kill-session', '-t', '=contract-new']);
    const id = (raised.data as { id: string }).id;
    await waitFor(async () => events.some((e) => e.event === 'alert_cleared' && (e.data as { id: string }).id === id), 10_000, 'alert_cleared');
  } finally {
    ws.close();
  }
  const alertItem = (body: unknown) => checker.problems('/api/alerts', 'get', 200, body, { item: true });
  for (const e of events) {
    const model = SPEC_EVENTS[e.event];
    if (!model) continue; // fleetmon's own events (alert_updated, alert_acked) are added beside
    assert.deepEqual(specProblems(model, e.data, e.event), [], `${e.event} against the specification`);
    specFieldsSeen(model, e.data, seen);
    if (e.event === 'hosts_update') {
      assert.deepEqual(checker.problems('/api/hosts', 'get', 200, e.data), [], 'hosts_update data is GET /api/hosts');
      for (const h of e.data as Array<{ sessions_scope?: { scope: string } }>) assert.equal(h.sessions_scope?.scope, 'own-account', 'hosts_update carries sessions_scope');
    }
    if (e.event === 'alert_new') assert.deepEqual(alertItem(e.data), [], 'alert_new data is an Alert of the document');
  }
  for (const name of Object.keys(SPEC_EVENTS)) assert.ok(events.some((e) => e.event === name), `${name} was seen`);
});

test('every field of the specification\'s models was present in some answer above', () => {
  const expected = Object.entries(SPEC_MODELS).flatMap(([model, fields]) => Object.keys(fields).map((f) => `${model}.${f}`));
  assert.deepEqual(expected.filter((f) => !seen.has(f)), []);
});
