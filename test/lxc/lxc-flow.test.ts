/**
 * The whole `lxc create` / `lxc destroy` flow against the Proxmox simulator: real HTTPS with a pinned key, the real
 * client, a fake clock (deadlines of minutes pass in milliseconds). Every test also checks that each request fleetmon
 * sent would have passed the real server's parameter validation.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EXIT, FleetmonError } from '../../src/core/errors.js';
import { createLxc, type LxcCreateResult } from '../../src/lxc/apply.js';
import { destroyLxc } from '../../src/lxc/destroy.js';
import type { LxcSpecInput } from '../../src/lxc/spec.js';
import { probeSshBanner } from '../../src/ssh/banner.js';
import { makePki, type TestPki } from '../pve/cert.js';
import { clientFor, fakeClock, testSpec } from '../pve/helpers.js';
import { LXC_PRIVILEGES, startPveSimulator, TEST_TOKEN, type PveSimulator, type PveSimulatorOptions, type SimToken } from '../pve/simulator.js';

const TEMPLATE = 'debian-12-standard_12.12-1_amd64.tar.zst';
let pki: TestPki;
const sims: PveSimulator[] = [];
before(() => {
  pki = makePki();
});
after(() => pki.cleanup());
afterEach(async () => {
  while (sims.length) await sims.pop()?.close();
});

async function sim(opts: PveSimulatorOptions = {}): Promise<PveSimulator> {
  const s = await startPveSimulator({ pki, authFailDelayMs: 30, taskDurationMs: 15, addressDelayMs: 40, ...opts });
  sims.push(s);
  return s;
}

async function create(s: PveSimulator, over: Partial<LxcSpecInput> = {}, opts: { token?: SimToken | string; warn?: (m: string) => void; dryRun?: boolean } = {}): Promise<LxcCreateResult> {
  const client = clientFor(s, { token: opts.token });
  try {
    return await createLxc(testSpec({ sshPort: s.sshPort, ...over }), {
      client,
      clock: fakeClock(),
      probeSsh: probeSshBanner,
      renderer: 'silent',
      timeouts: { taskMs: 30 * 60_000, addressMs: 5 * 60_000, sshMs: 5 * 60_000 },
      warn: opts.warn,
      dryRun: opts.dryRun,
    });
  } finally {
    await client.close();
  }
}

async function createFails(s: PveSimulator, over: Partial<LxcSpecInput> = {}, opts: { token?: SimToken | string } = {}): Promise<FleetmonError> {
  try {
    await create(s, over, opts);
  } catch (err) {
    assert.ok(err instanceof FleetmonError, `expected a FleetmonError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected create to fail');
}

const changes = (s: PveSimulator, from = 0) => s.requests.slice(from).filter((r) => r.method !== 'GET').map((r) => `${r.method} ${r.method_key ?? r.path}`);
const allValid = (s: PveSimulator) => assert.deepEqual(s.invalidRequests().map((r) => `${r.method} ${r.path} ${JSON.stringify(r.schemaErrors)}`), []);

describe('lxc create', () => {
  test('the whole flow: template download, create, start, address, SSH', async () => {
    const s = await sim();
    const r = await create(s);
    assert.deepEqual(
      { ...r, tasks: r.tasks.map((t) => t.upid.split(':')[5]) },
      {
        vmid: 200, node: 'pve', hostname: 'fleetmon', action: 'created', status: 'running', address: '127.0.0.1', sshPort: s.sshPort,
        template: `local:vztmpl/${TEMPLATE}`, templateDownloaded: true, started: true, changes: [], warnings: [],
        tasks: ['download', 'vzcreate', 'vzstart'], proxmoxVersion: '9.1.2', next: 'fleetmon provision --host 127.0.0.1',
      },
    );
    assert.deepEqual(changes(s), ['POST POST /nodes/{node}/aplinfo', 'POST POST /nodes/{node}/lxc', 'POST POST /nodes/{node}/lxc/{vmid}/status/start']);
    const post = s.requests.find((q) => q.method_key === 'POST /nodes/{node}/lxc');
    assert.equal(post?.params.unprivileged, '1');
    assert.equal(post?.params.features, 'nesting=1');
    const ct = s.state.guests.get(200);
    assert.equal(ct?.status, 'running');
    assert.equal(ct?.config.tags, 'fleetmon');
    assert.equal(ct?.config.onboot, 1);
    assert.ok(s.requests.every((q) => q.authId === TEST_TOKEN.id), 'every request authenticated with the token');
    allValid(s);
  });

  test('a re-run finds the container and changes nothing; a stopped one is started', async () => {
    const s = await sim();
    const first = await create(s);
    const mark = s.requests.length;
    const again = await create(s);
    assert.equal(again.action, 'existing');
    assert.equal(again.vmid, first.vmid);
    assert.equal(again.address, '127.0.0.1');
    assert.deepEqual(changes(s, mark), [], 'no POST/PUT/DELETE on a re-run');
    assert.equal(s.state.guests.size, 1);
    const g = s.state.guests.get(200);
    if (g) {
      g.status = 'stopped';
      g.startedAt = undefined;
    }
    const mark2 = s.requests.length;
    const restarted = await create(s);
    assert.equal(restarted.action, 'existing');
    assert.equal(restarted.started, true);
    assert.deepEqual(changes(s, mark2), ['POST POST /nodes/{node}/lxc/{vmid}/status/start']);
    assert.equal((await create(s, { vmid: 200 })).action, 'existing', 'found by VMID too');
    const other = await createFails(s, { vmid: 250 });
    assert.equal(other.code, 'LXC_HOSTNAME_TAKEN', 'a second container with the same hostname is not created');
    allValid(s);
  });

  test('template already present: no download', async () => {
    const s = await sim({ templatesPresent: [TEMPLATE] });
    const r = await create(s);
    assert.equal(r.templateDownloaded, false);
    assert.ok(!changes(s).some((c) => c.includes('aplinfo')));
    allValid(s);
  });

  test('VMIDs: from 200 up, skipping ids in use, even ones the token cannot see', async () => {
    const s = await sim({ containers: [{ vmid: 100, hostname: 'old' }, { vmid: 200, hostname: 'web' }] });
    assert.equal((await create(s)).vmid, 201);
    // CT 202 exists but this token has no VM.Audit on it, so /cluster/resources does not list it; nextid?vmid= does.
    const scoped: SimToken = {
      id: 'mon@pve!ci', secret: 'abcdef01-2345-4678-89ab-cdef01234567',
      acl: [{ path: '/storage', privs: [...LXC_PRIVILEGES] }, { path: '/sdn', privs: [...LXC_PRIVILEGES] }, { path: '/vms/200', privs: ['VM.Audit'] }, { path: '/vms/201', privs: ['VM.Audit'] }, { path: '/vms/203', privs: [...LXC_PRIVILEGES] }],
    };
    const s2 = await sim({ tokens: [scoped], containers: [{ vmid: 200, hostname: 'web' }, { vmid: 201, hostname: 'x' }, { vmid: 202, hostname: 'y' }] });
    assert.equal((await create(s2, {}, { token: scoped })).vmid, 203);
    assert.ok(s2.requests.some((q) => q.path === '/cluster/nextid' && q.params.vmid === '202' && q.status === 400));
    const s3 = await sim({ containers: [{ vmid: 150, hostname: 'x' }], nextIdRange: { lower: 300, upper: 400 } });
    assert.equal((await create(s3)).vmid, 300, "the server's own range wins when it starts above 200");
    allValid(s);
    allValid(s2);
  });

  test('no free VMID: a conflict (exit 8) with the server\'s reason', async () => {
    const s = await sim({ nextIdRange: { lower: 200, upper: 202 }, containers: [{ vmid: 200, hostname: 'a' }, { vmid: 201, hostname: 'b' }] });
    const err = await createFails(s);
    assert.equal(err.code, 'PVE_NO_FREE_VMID');
    assert.equal(err.exit, EXIT.conflict);
    assert.match(err.message, /unable to get any free VMID in range \[200, 202\]/);
    assert.deepEqual(changes(s), []);
  });

  test('a wrong token: 401, exit 9, nothing else tried', async () => {
    const s = await sim();
    const err = await createFails(s, {}, { token: `${TEST_TOKEN.id}=11111111-2222-4333-8444-555555555555` });
    assert.equal(err.code, 'PVE_AUTH_FAILED');
    assert.equal(err.exit, EXIT.auth);
    assert.match(err.message, /invalid token value!/);
    assert.equal(s.requests.length, 1);
  });

  test('a missing privilege is named with its path before anything is changed (exit 9)', async () => {
    const weak: SimToken = { id: 'mon@pve!ci', secret: 'abcdef01-2345-4678-89ab-cdef01234567', acl: [{ path: '/', privs: LXC_PRIVILEGES.filter((p) => p !== 'VM.Allocate' && p !== 'SDN.Use') }] };
    const s = await sim({ tokens: [weak] });
    const err = await createFails(s, {}, { token: weak });
    assert.equal(err.code, 'PVE_MISSING_PRIVILEGES');
    assert.equal(err.exit, EXIT.auth);
    assert.match(err.message, /VM\.Allocate on \/vms\/200 \(to create the container\)/);
    assert.match(err.message, /SDN\.Use on \/sdn\/zones\/localnetwork\/vmbr0/);
    assert.deepEqual(changes(s), []);
    allValid(s);
  });

  test('a 403 from the server names the privilege and path too', async () => {
    const noPower: SimToken = { id: 'mon@pve!ci', secret: 'abcdef01-2345-4678-89ab-cdef01234567', acl: [{ path: '/', privs: LXC_PRIVILEGES.filter((p) => p !== 'VM.PowerMgmt') }] };
    const s = await sim({ tokens: [noPower], containers: [{ vmid: 210, hostname: 'fleetmon', config: { tags: 'fleetmon' } }] });
    const client = clientFor(s, { token: noPower });
    try {
      await destroyLxc(210, { client, clock: fakeClock(), renderer: 'silent', taskTimeoutMs: 60_000 }).then(
        () => assert.fail('expected a refusal'),
        (err: unknown) => {
          assert.ok(err instanceof FleetmonError);
          assert.equal(err.code, 'PVE_PERMISSION_DENIED');
          assert.equal(err.exit, EXIT.auth);
          assert.match(err.message, /lacks VM\.PowerMgmt on \/vms\/210/);
        },
      );
    } finally {
      await client.close();
    }
  });

  test('a task that fails: exit 5 with the task log; the next run starts over cleanly', async () => {
    const s = await sim({ templatesPresent: [TEMPLATE], failTask: { type: 'vzcreate', exitstatus: 'unable to create CT 200 - lvcreate failed', log: ['  Volume group "pve" has insufficient free space (511 extents): 2048 required.'] } });
    const err = await createFails(s);
    assert.equal(err.code, 'PVE_TASK_FAILED');
    assert.equal(err.exit, EXIT.proxmox);
    assert.match(err.message, /creating CT 200 failed: unable to create CT 200 - lvcreate failed/);
    assert.match(err.message, /insufficient free space/);
    assert.match(err.message, /TASK ERROR/);
    s.state.failTask = undefined;
    assert.equal((await create(s)).action, 'created');
    allValid(s);
  });

  test('WARNINGS: N ends a task successfully, reported as warnings', async () => {
    const warnings: string[] = [];
    const s = await sim({ templatesPresent: [TEMPLATE], taskOutcomes: { vzcreate: { exitstatus: 'WARNINGS: 1', log: ['WARN: Systemd 252 detected. You may need to enable nesting.'] } } });
    const r = await create(s, {}, { warn: (m) => warnings.push(m) });
    assert.equal(r.action, 'created');
    assert.deepEqual(r.warnings, ['WARN: Systemd 252 detected. You may need to enable nesting.']);
    assert.match(warnings[0] ?? '', /creating CT 200: WARN: Systemd 252/);
  });

  test('an address that never comes: a deadline (exit 7) that says to check the bridge and DHCP', async () => {
    const s = await sim({ addressDelayMs: Infinity });
    const started = Date.now();
    const err = await createFails(s);
    assert.equal(err.code, 'LXC_NO_ADDRESS');
    assert.equal(err.exit, EXIT.timeout);
    assert.match(err.message, /CT 200 got no IPv4 address on eth0 within 5m/);
    assert.ok(err.suggestions.some((x) => x.includes('bridge vmbr0') && x.includes('DHCP')));
    assert.ok(Date.now() - started < 15_000, 'virtual minutes, real seconds');
    assert.equal(s.state.guests.get(200)?.status, 'running', 'the container is left running for a re-run');
  });

  test('PVE 8.4: the same flow passes the 8.4 schema (unprivileged sent explicitly)', async () => {
    const s = await sim({ schema: '8.4' });
    const r = await create(s);
    assert.equal(r.action, 'created');
    assert.equal(r.proxmoxVersion, '8.4.1');
    assert.equal(s.state.guests.get(200)?.config.unprivileged, 1);
    allValid(s);
  });

  test('a different configuration is refused without --force, changed in place with it', async () => {
    const s = await sim({ templatesPresent: [TEMPLATE] });
    await create(s);
    const err = await createFails(s, { memory: 2048, disk: 10 });
    assert.equal(err.code, 'LXC_CONFIG_DIFFERS');
    assert.equal(err.exit, EXIT.conflict);
    const mark = s.requests.length;
    const r = await create(s, { memory: 2048, disk: 10, force: true });
    assert.equal(r.action, 'updated');
    assert.deepEqual(r.changes.map((c) => c.key), ['memory', 'rootfs.size']);
    assert.deepEqual(changes(s, mark), ['PUT PUT /nodes/{node}/lxc/{vmid}/config', 'PUT PUT /nodes/{node}/lxc/{vmid}/resize']);
    assert.equal(s.state.guests.get(200)?.config.memory, 2048);
    assert.equal(s.state.guests.get(200)?.config.rootfs, 'local-lvm:vm-200-disk-0,size=10G');
    assert.equal((await create(s, { memory: 2048, disk: 10 })).action, 'existing');
    allValid(s);
  });

  test('--dry-run plans and changes nothing', async () => {
    const s = await sim();
    const r = await create(s, {}, { dryRun: true });
    assert.equal(r.action, 'planned');
    assert.deepEqual(r.plan?.steps, ['download-template', 'create', 'start', 'wait-address', 'wait-ssh']);
    assert.equal(r.plan?.createParams?.vmid, 200);
    assert.deepEqual(changes(s), []);
  });
});

describe('lxc destroy', () => {
  test('stops and removes a fleetmon container; again is a no-op', async () => {
    const s = await sim();
    await create(s);
    const client = clientFor(s);
    try {
      const deps = { client, clock: fakeClock(), renderer: 'silent' as const, taskTimeoutMs: 60_000 };
      // Asked once it is known to be ours, with what it is; "no" changes nothing.
      const asked: unknown[] = [];
      const declined = await destroyLxc(200, { ...deps, confirm: async (ct) => (asked.push(ct), false) });
      assert.deepEqual(asked, [{ vmid: 200, hostname: 'fleetmon', node: 'pve', status: 'running' }]);
      assert.equal(declined.declined, true);
      assert.equal(declined.destroyed, false);
      assert.equal(s.state.guests.get(200)?.status, 'running');
      const r = await destroyLxc(200, deps);
      assert.deepEqual({ ...r, tasks: r.tasks.length }, { vmid: 200, node: 'pve', hostname: 'fleetmon', destroyed: true, alreadyGone: false, stopped: true, tasks: 2 });
      assert.equal(s.state.guests.size, 0);
      const again = await destroyLxc(200, deps);
      assert.deepEqual(again, { vmid: 200, destroyed: false, alreadyGone: true, stopped: false, tasks: [] });
    } finally {
      await client.close();
    }
    allValid(s);
  });

  test('refuses a container without the fleetmon tag, and a VM (exit 8)', async () => {
    const s = await sim({ containers: [{ vmid: 300, hostname: 'db' }, { vmid: 301, hostname: 'win', type: 'qemu' }] });
    const client = clientFor(s);
    try {
      for (const [vmid, code] of [[300, 'LXC_NOT_FLEETMON'], [301, 'PVE_VMID_IS_VM']] as const) {
        await destroyLxc(vmid, { client, clock: fakeClock(), renderer: 'silent', taskTimeoutMs: 60_000 }).then(
          () => assert.fail('expected a refusal'),
          (err: unknown) => {
            assert.ok(err instanceof FleetmonError);
            assert.equal(err.code, code);
            assert.equal(err.exit, EXIT.conflict);
          },
        );
      }
    } finally {
      await client.close();
    }
    assert.equal(s.state.guests.size, 2);
    assert.deepEqual(changes(s), []);
  });
});
