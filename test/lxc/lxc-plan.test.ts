import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EXIT, FleetmonError } from '../../src/core/errors.js';
import { eth0Ipv4 } from '../../src/lxc/apply.js';
import type { LxcFacts } from '../../src/lxc/facts.js';
import { blockerError, diffConfig, planLxc, sizeToGiB } from '../../src/lxc/plan.js';
import { resolveLxcSpec } from '../../src/lxc/spec.js';
import { specInput, TEST_KEY, testSpec } from '../pve/helpers.js';

const ALL = ['VM.Allocate', 'VM.Audit', 'VM.Config.CPU', 'VM.Config.Disk', 'VM.Config.Memory', 'VM.Config.Network', 'VM.Config.Options',
  'VM.PowerMgmt', 'Datastore.AllocateSpace', 'Datastore.Audit', 'Datastore.AllocateTemplate', 'SDN.Use', 'Sys.Modify'];
const PATHS = ['/vms/200', '/storage/local-lvm', '/storage/local', '/sdn/zones/localnetwork/vmbr0', '/'];

function facts(over: Partial<LxcFacts> = {}): LxcFacts {
  return {
    version: { version: '9.1.2', release: '9.1' },
    nodes: [{ node: 'pve', status: 'online' }],
    node: 'pve',
    vmid: 200,
    conflicts: [],
    // A token that holds everything, on whatever path the plan asks about.
    permissions: new Proxy({}, { get: () => ALL }),
    storages: [
      { storage: 'local', type: 'dir', content: 'vztmpl,iso,backup', active: 1, enabled: 1 },
      { storage: 'local-lvm', type: 'lvmthin', content: 'rootdir,images', active: 1, enabled: 1 },
    ],
    templateVolumes: [],
    aplinfo: [{ template: 'debian-12-standard_12.7-1_amd64.tar.zst' }, { template: 'debian-12-standard_12.12-1_amd64.tar.zst' }],
    bridges: ['vmbr0'],
    unreadable: [],
    ...over,
  };
}

const existingConfig = {
  arch: 'amd64', cores: 1, memory: 1024, swap: 512, hostname: 'fleetmon', ostype: 'debian', unprivileged: 1, onboot: 1,
  features: 'nesting=1', tags: 'fleetmon', rootfs: 'local-lvm:vm-200-disk-0,size=8G',
  net0: 'name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:C8,ip=dhcp,type=veth', digest: 'abc123',
};

describe('planLxc: create', () => {
  test('a fresh create: download, create, start, wait for the address and SSH, with the exact request body', () => {
    const plan = planLxc(testSpec(), facts());
    assert.deepEqual(plan.blockers, []);
    assert.equal(plan.action, 'create');
    assert.deepEqual(plan.steps, ['download-template', 'create', 'start', 'wait-address', 'wait-ssh']);
    assert.deepEqual(plan.createParams, {
      vmid: 200,
      ostemplate: 'local:vztmpl/debian-12-standard_12.12-1_amd64.tar.zst',
      hostname: 'fleetmon', cores: 1, memory: 1024, swap: 512,
      rootfs: 'local-lvm:8',
      net0: 'name=eth0,bridge=vmbr0,ip=dhcp',
      unprivileged: 1,
      features: 'nesting=1',
      onboot: 1,
      tags: 'fleetmon',
      'ssh-public-keys': `${TEST_KEY}\n`,
      description: 'fleetmon monitor (created by `fleetmon lxc create`)',
    });
  });

  test('template already on the storage: no download, and no AllocateTemplate needed', () => {
    const perms = Object.fromEntries(PATHS.map((p) => [p, ALL.filter((x) => x !== 'Datastore.AllocateTemplate')]));
    const plan = planLxc(testSpec(), facts({ templateVolumes: ['local:vztmpl/debian-12-standard_12.12-1_amd64.tar.zst'], permissions: perms }));
    assert.deepEqual(plan.blockers, []);
    assert.deepEqual(plan.steps, ['create', 'start', 'wait-address', 'wait-ssh']);
    const download = planLxc(testSpec(), facts({ permissions: perms }));
    assert.equal(download.blockers[0]?.code, 'PVE_MISSING_PRIVILEGES');
    assert.match(download.blockers[0]?.message ?? '', /Datastore\.AllocateTemplate on \/storage\/local \(to download the Debian 12 template\)/);
  });

  test('a static address: gateway in net0, no waiting for DHCP', () => {
    const plan = planLxc(testSpec({ ip: '192.168.1.50/24', gateway: '192.168.1.1' }), facts());
    assert.equal(plan.createParams?.net0, 'name=eth0,bridge=vmbr0,ip=192.168.1.50/24,gw=192.168.1.1');
    assert.equal(plan.staticAddress, '192.168.1.50');
    assert.ok(!plan.steps.includes('wait-address'));
  });

  test('every missing privilege is named with its path, in one blocker (exit 9)', () => {
    const plan = planLxc(testSpec(), facts({ permissions: { '/vms/200': ['VM.Audit'], '/storage/local': ['Datastore.Audit'] } }));
    const err = blockerError(plan);
    assert.ok(err instanceof FleetmonError);
    assert.equal(err.exit, EXIT.auth);
    for (const want of ['VM.Allocate on /vms/200', 'VM.PowerMgmt on /vms/200', 'Datastore.AllocateSpace on /storage/local-lvm', 'SDN.Use on /sdn/zones/localnetwork/vmbr0']) {
      assert.ok(err.message.includes(want), want);
    }
    assert.ok(err.suggestions.some((s) => s.includes('pveum acl modify /vms/200')));
  });

  test('privileges on the pool count for guest privileges', () => {
    const perms = { ...Object.fromEntries(PATHS.map((p) => [p, ALL])), '/vms/200': [], '/pool/mon': ALL };
    assert.deepEqual(planLxc(testSpec({ pool: 'mon' }), facts({ permissions: perms, pools: ['mon'] })).blockers, []);
    assert.equal(planLxc(testSpec(), facts({ permissions: perms })).blockers[0]?.code, 'PVE_MISSING_PRIVILEGES');
  });

  test('a privileged container sends unprivileged=0, no features, and needs Sys.Modify on /', () => {
    const plan = planLxc(testSpec({ unprivileged: false }), facts({ permissions: { ...Object.fromEntries(PATHS.map((p) => [p, ALL])), '/': [] } }));
    assert.equal(plan.createParams?.unprivileged, 0);
    assert.equal(plan.createParams?.features, undefined);
    assert.match(plan.blockers[0]?.message ?? '', /Sys\.Modify on \/ /);
  });

  test('storages, bridge, template and node are checked with what to do instead', () => {
    const codes = (f: Partial<LxcFacts>, s = testSpec()) => planLxc(s, facts(f)).blockers.map((b) => `${b.code}:${b.kind}`);
    assert.deepEqual(codes({}, testSpec({ storage: 'fast' })), ['PVE_NO_SUCH_STORAGE:notFound']);
    assert.deepEqual(codes({}, testSpec({ storage: 'local' })), ['PVE_STORAGE_CONTENT:proxmox']);
    assert.deepEqual(codes({ bridges: ['vmbr1'] }), ['PVE_NO_SUCH_BRIDGE:notFound']);
    assert.deepEqual(codes({ aplinfo: [], templateVolumes: [] }), ['LXC_NO_TEMPLATE:notFound']);
    assert.deepEqual(codes({ nodes: [{ node: 'pve', status: 'offline' }] }), ['PVE_NODE_OFFLINE:proxmox']);
    assert.match(planLxc(testSpec({ bridge: 'vmbr9' }), facts({ bridges: ['vmbr0', 'vmbr1'] })).blockers[0]?.suggestions[0] ?? '', /vmbr0, vmbr1/);
  });

  test('before PVE 8.1 a DHCP address cannot be learned: blocked, but a static --ip works', () => {
    const old = { version: { version: '8.0.4', release: '8.0' } };
    assert.equal(planLxc(testSpec(), facts(old)).blockers[0]?.code, 'PVE_NO_INTERFACES_API');
    assert.deepEqual(planLxc(testSpec({ ip: '10.0.0.9/24', gateway: '10.0.0.1' }), facts(old)).blockers, []);
  });

  test('a VMID that is a VM, or several containers with the hostname, is a conflict (exit 8)', () => {
    const vm = planLxc(testSpec({ vmid: 200 }), facts({ conflicts: [{ id: 'qemu/200', type: 'qemu', vmid: 200, name: 'db', node: 'pve' }] }));
    assert.equal(blockerError(vm)?.exit, EXIT.conflict);
    const two = planLxc(testSpec(), facts({ conflicts: [{ id: 'lxc/201', type: 'lxc', vmid: 201, name: 'fleetmon' }, { id: 'lxc/202', type: 'lxc', vmid: 202, name: 'fleetmon' }] }));
    assert.equal(two.blockers[0]?.code, 'LXC_AMBIGUOUS');
    const taken = planLxc(testSpec({ vmid: 210 }), facts({ vmid: 210, conflicts: [{ id: 'lxc/200', type: 'lxc', vmid: 200, name: 'fleetmon', node: 'pve' }] }));
    assert.equal(taken.blockers[0]?.code, 'LXC_HOSTNAME_TAKEN');
    assert.match(taken.blockers[0]?.suggestions[0] ?? '', /pass its VMID \(200\)/);
  });
});

describe('planLxc: an existing container', () => {
  test('running and matching: nothing to change, only confirm the address and SSH', () => {
    const plan = planLxc(testSpec(), facts({ existing: { vmid: 200, node: 'pve', status: 'running', config: existingConfig } }));
    assert.deepEqual(plan.blockers, []);
    assert.equal(plan.action, 'existing');
    assert.deepEqual(plan.steps, ['wait-address', 'wait-ssh']);
    assert.equal(plan.createParams, undefined);
  });

  test('stopped: start it', () => {
    const plan = planLxc(testSpec(), facts({ existing: { vmid: 200, node: 'pve', status: 'stopped', config: existingConfig } }));
    assert.deepEqual(plan.steps, ['start', 'wait-address', 'wait-ssh']);
  });

  test('a different configuration is a plan difference, refused without --force (exit 8)', () => {
    const plan = planLxc(testSpec({ cores: 2, memory: 2048 }), facts({ existing: { vmid: 200, node: 'pve', status: 'running', config: existingConfig } }));
    assert.deepEqual(plan.differences, [
      { key: 'cores', current: '1', wanted: '2', fix: 'update' },
      { key: 'memory', current: '1024', wanted: '2048', fix: 'update' },
    ]);
    const err = blockerError(plan);
    assert.equal(err?.code, 'LXC_CONFIG_DIFFERS');
    assert.equal(err?.exit, EXIT.conflict);
    assert.match(err?.message ?? '', /cores: 1 → 2; memory: 1024 → 2048/);
    assert.ok(err?.suggestions.some((s) => s.includes('--force')));
  });

  test('--force changes it in place, keeping the MAC address and the digest guard', () => {
    const spec = testSpec({ force: true, bridge: 'vmbr1', disk: 12, tags: 'web' });
    const plan = planLxc(spec, facts({ existing: { vmid: 200, node: 'pve', status: 'stopped', config: existingConfig } }));
    assert.deepEqual(plan.blockers, []);
    assert.equal(plan.action, 'update');
    assert.deepEqual(plan.steps, ['update-config', 'resize-disk', 'start', 'wait-address', 'wait-ssh']);
    assert.deepEqual(plan.updateParams, {
      net0: 'name=eth0,bridge=vmbr1,hwaddr=BC:24:11:00:00:C8,ip=dhcp,type=veth',
      tags: 'fleetmon;web',
      digest: 'abc123',
    });
    assert.deepEqual(plan.resize, { disk: 'rootfs', size: '12G' });
  });

  test('what cannot change in place is refused even with --force', () => {
    const plan = planLxc(testSpec({ force: true, storage: 'ceph', disk: 4 }), facts({ existing: { vmid: 200, node: 'pve', status: 'running', config: existingConfig } }));
    assert.equal(plan.blockers[0]?.code, 'LXC_CANNOT_CHANGE');
    assert.match(plan.blockers[0]?.message ?? '', /rootfs\.storage: local-lvm → ceph; rootfs\.size: 8G → 4G/);
  });

  test('a container locked by a create in progress is not touched', () => {
    const plan = planLxc(testSpec(), facts({ existing: { vmid: 200, node: 'pve', status: 'stopped', config: { ...existingConfig, lock: 'create' } } }));
    assert.equal(plan.blockers[0]?.code, 'LXC_LOCKED');
  });
});

test('diffConfig understands Proxmox spellings: sizes in M/T, tags with ;, nesting=on', () => {
  const spec = testSpec({ tags: 'a,b' });
  const diffs = diffConfig(spec, { ...existingConfig, rootfs: 'local-lvm:vm-200-disk-0,size=8192M', tags: 'b;fleetmon;a', features: 'nesting=on' });
  assert.deepEqual(diffs, []);
  assert.equal(sizeToGiB('1T'), 1024);
  assert.equal(sizeToGiB('512M'), 0.5);
});

test('eth0Ipv4 ignores lo, link-local and missing addresses, and reads both 8.1 and 8.4 shapes', () => {
  assert.equal(eth0Ipv4(null), undefined);
  assert.equal(eth0Ipv4([{ name: 'lo', inet: '127.0.0.1/8' }, { name: 'eth0', inet6: 'fe80::1/64' } as never]), undefined);
  assert.equal(eth0Ipv4([{ name: 'eth0', inet: '169.254.3.4/16' }]), undefined);
  assert.equal(eth0Ipv4([{ name: 'eth0', inet: '192.168.1.50/24' }]), '192.168.1.50');
  assert.equal(eth0Ipv4([{ name: 'eth0', 'ip-addresses': [{ 'ip-address': 'fe80::1', 'ip-address-type': 'inet6' }, { 'ip-address': '10.1.2.3', 'ip-address-type': 'inet' }] }]), '10.1.2.3');
});

describe('resolveLxcSpec', () => {
  const bad = (over: Parameters<typeof specInput>[0], code: string, files: Record<string, string> = { '/keys/id.pub': TEST_KEY }) => {
    assert.throws(
      () => resolveLxcSpec(specInput(over), { readFile: (p) => files[p] ?? (() => { throw new Error('ENOENT'); })(), home: '/home/u' }),
      (e: unknown) => e instanceof FleetmonError && e.code === code && e.exit === EXIT.usage,
      code,
    );
  };
  test('rejects what would break a path or a property string', () => {
    bad({ hostname: 'bad_name' }, 'BAD_HOSTNAME');
    bad({ node: '../x' }, 'BAD_NODE');
    bad({ storage: 'x' }, 'BAD_STORAGE');
    bad({ bridge: 'vmbr0,ip=dhcp' }, 'BAD_BRIDGE');
    bad({ ip: '10.0.0.5' , gateway: '10.0.0.1' }, 'BAD_IP');
    bad({ ip: '10.0.0.5/24' }, 'BAD_GATEWAY');
    bad({ tags: 'ok,-no' }, 'BAD_TAG');
    bad({ vmid: 99 }, 'BAD_VMID');
  });
  test('the SSH key: the given file, else ~/.ssh/id_ed25519.pub, else id_rsa.pub; a private key is refused', () => {
    const spec = resolveLxcSpec(specInput({ sshPublicKey: undefined }), { readFile: (p) => { if (p === '/home/u/.ssh/id_rsa.pub') return TEST_KEY; throw new Error('ENOENT'); }, home: '/home/u' });
    assert.equal(spec.sshPublicKeyFile, '/home/u/.ssh/id_rsa.pub');
    bad({ sshPublicKey: undefined }, 'NO_SSH_KEY', {});
    bad({}, 'BAD_SSH_KEY', { '/keys/id.pub': '-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl\n' });
  });
  test('tags always include fleetmon, lower-cased and unique', () => {
    assert.deepEqual(testSpec({ tags: 'Web, fleetmon;mon' }).tags, ['fleetmon', 'web', 'mon']);
  });
});
