import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, fetch } from 'undici';
import { makePki, type TestPki } from './cert.js';
import { LXC_PRIVILEGES, startPveSimulator, TEST_TOKEN, tokenHeaderValue, type PveSimulator, type PveSimulatorOptions } from './simulator.js';
import { TEST_KEY } from './helpers.js';

// One PKI for the file: openssl runs once.
let pki: TestPki;
before(() => {
  pki = makePki();
});
after(() => pki.cleanup());

async function withSim(opts: PveSimulatorOptions, fn: (sim: PveSimulator, call: Caller) => Promise<void>): Promise<void> {
  const sim = await startPveSimulator({ authFailDelayMs: 20, taskDurationMs: 10, pki, ...opts });
  const agent = new Agent({ connect: { ca: sim.caPem } });
  const call: Caller = async (method, path, body, token = tokenHeaderValue(TEST_TOKEN)) => {
    const res = await fetch(`${sim.url}/api2/json${path}`, {
      method,
      dispatcher: agent,
      headers: { Authorization: `PVEAPIToken=${token}`, ...(body ? { 'Content-Type': 'application/x-www-form-urlencoded' } : {}) },
      body: body ? new URLSearchParams(body).toString() : undefined,
    });
    const text = await res.text();
    return { status: res.status, statusText: res.statusText, contentType: res.headers.get('content-type'), text, json: text ? (JSON.parse(text) as Body) : undefined };
  };
  try {
    await fn(sim, call);
  } finally {
    await agent.close();
    await sim.close();
  }
}

type Body = { data: unknown; errors?: Record<string, string>; message?: string; total?: number };
type Caller = (method: string, path: string, body?: Record<string, string>, token?: string) => Promise<{ status: number; statusText: string; contentType: string | null; text: string; json?: Body }>;

const createBody = (vmid: string, extra: Record<string, string> = {}) => ({
  vmid, ostemplate: 'local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst', hostname: 'ct', rootfs: 'local-lvm:8',
  net0: 'name=eth0,bridge=vmbr0,ip=dhcp', unprivileged: '1', features: 'nesting=1', 'ssh-public-keys': TEST_KEY, ...extra,
});

async function waitTask(call: Caller, upid: string): Promise<Body> {
  for (let i = 0; i < 200; i++) {
    const r = await call('GET', `/nodes/pve/tasks/${encodeURIComponent(upid)}/status`);
    if ((r.json?.data as { status: string }).status === 'stopped') return r.json as Body;
    await new Promise((res) => setTimeout(res, 10));
  }
  throw new Error('task did not stop');
}

describe('wire protocol', () => {
  test('success: exact content type, data envelope, nextid as a string', async () => {
    await withSim({}, async (_sim, call) => {
      const v = await call('GET', '/version');
      assert.equal(v.status, 200);
      assert.equal(v.contentType, 'application/json;charset=UTF-8');
      assert.equal((v.json?.data as { release: string }).release, '9.1');
      const n = await call('GET', '/cluster/nextid');
      assert.equal(n.text, '{"data":"100"}');
    });
  });

  test('401: reason in the status line, no body, delayed', async () => {
    await withSim({ authFailDelayMs: 150 }, async (sim, call) => {
      const started = Date.now();
      const r = await call('GET', '/version', undefined, 'fleetmon@pve!ci=00000000-0000-0000-0000-000000000000');
      assert.equal(r.status, 401);
      assert.equal(r.statusText, 'invalid token value!');
      assert.equal(r.contentType, null);
      assert.equal(r.text, '');
      assert.ok(Date.now() - started >= 140, 'the failure is delayed');
      assert.equal((await call('GET', '/version', undefined, 'fleetmon@pve!nope=x')).statusText, "no such token 'nope' for user 'fleetmon@pve'");
      assert.equal(sim.requests.at(-1)?.status, 401);
    });
  });

  test('400: "Parameter verification failed." with the errors object', async () => {
    await withSim({ templatesPresent: ['debian-12-standard_12.7-1_amd64.tar.zst'] }, async (sim, call) => {
      const r = await call('POST', '/nodes/pve/lxc', createBody('200', { bogus: '1', unprivileged: 'true' }));
      assert.equal(r.status, 400);
      assert.equal(r.statusText, 'Parameter verification failed.');
      assert.deepEqual(r.json, {
        data: null,
        errors: {
          unprivileged: "type check ('boolean') failed - got 'true'",
          bogus: 'property is not defined in schema and the schema does not allow additional properties',
        },
        message: 'Parameter verification failed.\n',
      });
      assert.equal(sim.requests.at(-1)?.schemaValid, false);
      assert.equal(sim.state.guests.size, 0, 'nothing was created');
    });
  });

  test('403 names the path and privilege; 500 carries the message in status line and body', async () => {
    const weak = { id: 'weak@pve!t', secret: 'f0f0f0f0-0000-4000-8000-000000000001', acl: [{ path: '/', privs: ['VM.Audit', 'Datastore.Audit'] }] };
    await withSim({ tokens: [TEST_TOKEN, weak], containers: [{ vmid: 150, hostname: 'other' }], templatesPresent: ['debian-12-standard_12.7-1_amd64.tar.zst'] }, async (_sim, call) => {
      const r = await call('POST', '/nodes/pve/lxc/150/status/stop', undefined, tokenHeaderValue(weak));
      assert.equal(r.status, 403);
      assert.equal(r.statusText, 'Permission check failed (/vms/150, VM.PowerMgmt)');
      assert.deepEqual(r.json, { data: null, message: 'Permission check failed (/vms/150, VM.PowerMgmt)\n' });
      const dup = await call('POST', '/nodes/pve/lxc', createBody('150'));
      assert.equal(dup.status, 500);
      assert.equal(dup.statusText, "CT 150 already exists on node 'pve'");
      assert.equal(dup.json?.message, "CT 150 already exists on node 'pve'\n");
      const any = await call('GET', '/nodes/pve/storage/local/content', undefined, tokenHeaderValue({ ...weak }));
      assert.equal(any.status, 200, 'Datastore.Audit is one of the "any" privileges');
    });
  });

  test('501 for unknown methods; path and body conflicts are refused', async () => {
    await withSim({}, async (_sim, call) => {
      const r = await call('GET', '/nodes/pve/lxc/200/rrddata');
      assert.equal(r.status, 501);
      assert.equal(r.statusText, "Method 'GET /nodes/pve/lxc/200/rrddata' not implemented");
      const dup = await call('GET', '/nodes/pve/network?node=other');
      assert.equal(dup.status, 400);
      assert.match(dup.json?.errors?.node ?? '', /duplicate parameter/);
    });
  });
});

describe('model', () => {
  test('download, create, start: tasks with UPIDs and logs; an address a little after start', async () => {
    await withSim({ addressDelayMs: 80 }, async (sim, call) => {
      const dl = await call('POST', '/nodes/pve/aplinfo', { storage: 'local', template: 'debian-12-standard_12.7-1_amd64.tar.zst' });
      const dlUpid = dl.json?.data as string;
      assert.match(dlUpid, /^UPID:pve:[0-9A-F]{8}:[0-9A-F]{8}:[0-9A-F]{8}:download:debian-12-standard_12\.7-1_amd64\.tar\.zst:fleetmon@pve!ci:$/);
      assert.equal(((await waitTask(call, dlUpid)).data as { exitstatus: string }).exitstatus, 'OK');
      const content = await call('GET', '/nodes/pve/storage/local/content?content=vztmpl');
      assert.deepEqual((content.json?.data as { volid: string }[]).map((v) => v.volid), ['local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst']);

      const cr = await call('POST', '/nodes/pve/lxc', createBody('200'));
      const upid = cr.json?.data as string;
      assert.equal(((await call('GET', '/nodes/pve/lxc/200/config')).json?.data as { lock?: string }).lock, 'create');
      const st = (await waitTask(call, upid)).data as Record<string, unknown>;
      assert.equal(st.user, 'fleetmon@pve');
      assert.equal(st.tokenid, 'ci');
      const log = await call('GET', `/nodes/pve/tasks/${encodeURIComponent(upid)}/log?start=0&limit=2`);
      assert.equal((log.json?.data as unknown[]).length, 2);
      assert.ok((log.json?.total ?? 0) > 2);
      const config = (await call('GET', '/nodes/pve/lxc/200/config')).json?.data as Record<string, string | number>;
      assert.equal(config.lock, undefined);
      assert.match(String(config.net0), /^name=eth0,bridge=vmbr0,ip=dhcp,hwaddr=BC:24:11:[0-9A-F:]{8},type=veth$/);
      assert.equal(config.rootfs, 'local-lvm:vm-200-disk-0,size=8G');

      assert.equal((await call('GET', '/nodes/pve/lxc/200/interfaces')).text, '{"data":null}', 'null while stopped');
      await waitTask(call, (await call('POST', '/nodes/pve/lxc/200/status/start')).json?.data as string);
      const early = (await call('GET', '/nodes/pve/lxc/200/interfaces')).json?.data as { name: string; inet?: string; inet6: string }[];
      assert.deepEqual(early.map((i) => i.name), ['lo', 'eth0']);
      assert.equal(early[1]?.inet, undefined, 'only link-local until DHCP answers');
      assert.match(early[1]?.inet6 ?? '', /^fe80:/);
      await new Promise((r) => setTimeout(r, 100));
      const later = (await call('GET', '/nodes/pve/lxc/200/interfaces')).json?.data as { name: string; inet?: string }[];
      assert.equal(later[1]?.inet, '127.0.0.1/24');
      assert.deepEqual(sim.invalidRequests(), []);
    });
  });

  test('a failing task ends with the error as exitstatus and TASK ERROR in the log; the CT is removed', async () => {
    await withSim({ templatesPresent: ['debian-12-standard_12.7-1_amd64.tar.zst'], failTask: { type: 'vzcreate', exitstatus: 'unable to create CT 200 - out of space', log: ['  Volume group "pve" has insufficient free space'] } }, async (sim, call) => {
      const upid = (await call('POST', '/nodes/pve/lxc', createBody('200'))).json?.data as string;
      const st = (await waitTask(call, upid)).data as { exitstatus: string };
      assert.equal(st.exitstatus, 'unable to create CT 200 - out of space');
      const log = (await call('GET', `/nodes/pve/tasks/${encodeURIComponent(upid)}/log`)).json?.data as { t: string }[];
      assert.equal(log.at(-1)?.t, 'TASK ERROR: unable to create CT 200 - out of space');
      assert.ok(!sim.state.guests.has(200));
    });
  });

  test('nextid: a taken vmid is a parameter error; a full range is a 500', async () => {
    await withSim({ nextIdRange: { lower: 200, upper: 202 }, containers: [{ vmid: 200, hostname: 'a' }, { vmid: 201, hostname: 'b' }] }, async (_sim, call) => {
      const taken = await call('GET', '/cluster/nextid?vmid=200');
      assert.equal(taken.status, 400);
      assert.deepEqual(taken.json?.errors, { vmid: 'VM 200 already exists' });
      const full = await call('GET', '/cluster/nextid');
      assert.equal(full.status, 500);
      assert.equal(full.statusText, 'unable to get any free VMID in range [200, 202]');
    });
  });

  test('PVE 8.4: no unprivileged parameter means privileged, which needs Sys.Modify on /', async () => {
    await withSim({ schema: '8.4', templatesPresent: ['debian-12-standard_12.7-1_amd64.tar.zst'] }, async (_sim, call) => {
      const { unprivileged: _u, features: _f, ...body } = createBody('200');
      const r = await call('POST', '/nodes/pve/lxc', body);
      assert.equal(r.status, 403);
      assert.equal(r.statusText, 'Permission check failed (/, Sys.Modify)');
      const feat = await call('POST', '/nodes/pve/lxc', createBody('200', { features: 'nesting=1,keyctl=1' }));
      assert.equal(feat.statusText, 'changing feature flags (except nesting) is only allowed for root@pam');
    });
  });

  test('PVE 9.1 without unprivileged creates an unprivileged CT; 8.0 has no /interfaces', async () => {
    await withSim({ templatesPresent: ['debian-12-standard_12.7-1_amd64.tar.zst'] }, async (sim, call) => {
      const { unprivileged: _u, ...body } = createBody('200');
      await waitTask(call, (await call('POST', '/nodes/pve/lxc', body)).json?.data as string);
      assert.equal(sim.state.guests.get(200)?.config.unprivileged, 1);
    });
    await withSim({ schema: '8.4', version: '8.0.4', containers: [{ vmid: 200, hostname: 'a' }] }, async (_sim, call) => {
      const r = await call('GET', '/nodes/pve/lxc/200/interfaces');
      assert.equal(r.status, 501);
      assert.equal(r.statusText, "Method 'GET /nodes/pve/lxc/200/interfaces' not implemented");
    });
  });

  test('ACLs: effective permissions per path, inherited downwards', async () => {
    const scoped = { id: 'ops@pve!t', secret: 'a0a0a0a0-0000-4000-8000-000000000002', acl: [{ path: '/vms', privs: ['VM.Audit'] }, { path: '/storage/local', privs: [...LXC_PRIVILEGES] }] };
    await withSim({ tokens: [scoped] }, async (_sim, call) => {
      const t = tokenHeaderValue(scoped);
      assert.deepEqual((await call('GET', '/access/permissions?path=/vms/200', undefined, t)).json?.data, { '/vms/200': { 'VM.Audit': 1 } });
      assert.deepEqual((await call('GET', '/access/permissions?path=/storage/local-lvm', undefined, t)).json?.data, { '/storage/local-lvm': {} });
      const storages = (await call('GET', '/nodes/pve/storage', undefined, t)).json?.data as { storage: string }[];
      assert.deepEqual(storages.map((s) => s.storage), ['local'], 'the list is filtered by privileges');
    });
  });
});
