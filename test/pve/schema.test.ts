import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ApiSchema, perlPattern, validateParams } from './schema.js';
import { SUBSET_METHODS } from './extract-schema.js';

const v91 = ApiSchema.load('9.1');
const v84 = ApiSchema.load('8.4');
const create91 = v91.method('POST /nodes/{node}/lxc');
const create84 = v84.method('POST /nodes/{node}/lxc');
assert.ok(create91 && create84);

const good = {
  node: 'pve', vmid: '200', ostemplate: 'local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst', hostname: 'fleetmon',
  cores: '1', memory: '1024', swap: '512', rootfs: 'local-lvm:8', net0: 'name=eth0,bridge=vmbr0,ip=dhcp',
  unprivileged: '1', features: 'nesting=1', onboot: '1', tags: 'fleetmon;web', 'ssh-public-keys': 'ssh-ed25519 AAAA x\n',
};

test('both subsets hold exactly the listed methods, with their parameter schemas', () => {
  for (const version of ['9.1', '8.4'] as const) {
    const doc = JSON.parse(readFileSync(new URL(`./schema/apidata-${version}.subset.json`, import.meta.url), 'utf8')) as { methods: string[] };
    assert.deepEqual(doc.methods, [...SUBSET_METHODS]);
    const schema = ApiSchema.load(version);
    for (const m of SUBSET_METHODS) assert.ok(schema.method(m)?.parameters, `${version}: ${m}`);
  }
});

test('a create request as fleetmon sends it passes on 9.1 and 8.4', () => {
  assert.deepEqual(validateParams(create91, good), {});
  assert.deepEqual(validateParams(create84, good), {});
});

test('unknown parameters are refused; 9.1-only parameters are unknown to 8.4', () => {
  assert.deepEqual(validateParams(create91, { ...good, bogus: '1' }), {
    bogus: 'property is not defined in schema and the schema does not allow additional properties',
  });
  assert.deepEqual(validateParams(create91, { ...good, entrypoint: '/sbin/init' }), {});
  assert.match(validateParams(create84, { ...good, entrypoint: '/sbin/init' }).entrypoint ?? '', /not defined in schema/);
});

test('missing required parameters and wrong types get the server\'s messages', () => {
  const { ostemplate: _o, ...noTemplate } = good;
  assert.deepEqual(validateParams(create91, noTemplate), { ostemplate: 'property is missing and it is not optional' });
  assert.deepEqual(validateParams(create91, { ...good, vmid: 'abc' }), { vmid: "type check ('integer') failed - got 'abc'" });
  assert.deepEqual(validateParams(create91, { ...good, unprivileged: 'true' }), { unprivileged: "type check ('boolean') failed - got 'true'" });
  assert.deepEqual(validateParams(create91, { ...good, vmid: '99' }), { vmid: 'invalid format - value does not look like a valid VM ID\n' });
  assert.deepEqual(validateParams(create91, { ...good, memory: '8' }), { memory: 'value must have a minimum value of 16' });
  assert.deepEqual(validateParams(create91, { ...good, ostype: 'windows' }), {
    ostype: "value 'windows' does not have a value in the enumeration 'debian, devuan, ubuntu, centos, fedora, opensuse, archlinux, alpine, gentoo, nixos, unmanaged'",
  });
  // A JSON body's real booleans are fine; a repeated form key is an array where a string is expected.
  assert.deepEqual(validateParams(create91, { ...good, unprivileged: true }), {});
  assert.deepEqual(validateParams(create91, { ...good, hostname: ['a', 'b'] }), { hostname: "type check ('string') failed - got ARRAY" });
});

test('property strings are parsed key by key like parse_property_string', () => {
  const err = (k: string, v: string) => validateParams(create91, { ...good, [k]: v })[k];
  assert.equal(err('net0', 'bridge=vmbr0,ip=dhcp'), 'invalid format - format error\nnet0.name: property is missing and it is not optional\n');
  assert.equal(err('net0', 'name=eth0,bridge=vmbr0,ip=dhcpp'), 'invalid format - format error\nnet0.ip: invalid format - value does not look like a valid ipv4 network configuration\n\n');
  assert.equal(err('net0', 'name=eth0,ip=10.0.0.5/40'), 'invalid format - format error\nnet0.ip: invalid format - value does not look like a valid ipv4 network configuration\n\n');
  assert.equal(err('net0', 'name=eth0,color=blue'), 'invalid format - invalid key in comma-separated list property: color\n');
  assert.equal(err('net0', 'name=eth0,name=eth1'), 'invalid format - duplicate key in comma-separated list property: name\n');
  assert.equal(err('net0', 'name=eth0,ip='), 'invalid format - missing key in comma-separated list property\n');
  assert.equal(err('net0', 'eth0'), 'invalid format - value without key, but schema does not define a default key\n');
  assert.equal(err('net0', 'name=eth0,bridge=vmbr0,ip=10.0.0.5/24,gw=10.0.0.1,firewall=on,hwaddr=BC:24:11:00:00:C8'), undefined);
  assert.equal(err('net0', 'name=eth0,hwaddr=01:24:11:00:00:C8'), 'invalid format - format error\nnet0.hwaddr: invalid format - value does not look like a valid unicast MAC address\n\n');
  assert.equal(err('rootfs', 'local-lvm:8,size=8G'), undefined);
  assert.equal(err('rootfs', 'size=8G'), 'invalid format - format error\nrootfs.volume: property is missing and it is not optional\n');
  assert.equal(err('rootfs', 'local-lvm:8,size=8X'), "invalid format - format error\nrootfs.size: invalid format - unable to parse size '8X'\n\n");
  assert.equal(err('features', 'nesting=1,keyctl=yes'), undefined);
  assert.equal(err('features', 'nesting=maybe'), "invalid format - format error\nfeatures.nesting: type check ('boolean') failed - got 'maybe'\n");
  assert.equal(err('features', 'nesting=1,docker=1'), 'invalid format - invalid key in comma-separated list property: docker\n');
});

test('indexed keys: net0..net31 exist, net32 and the literal net[n] do not', () => {
  assert.deepEqual(validateParams(create91, { ...good, net31: 'name=eth31' }), {});
  assert.match(validateParams(create91, { ...good, net32: 'name=eth32' }).net32 ?? '', /not defined in schema/);
  assert.match(validateParams(create91, { ...good, 'net[n]': 'name=eth1' })['net[n]'] ?? '', /not defined in schema/);
  assert.match(validateParams(create91, { ...good, net01: 'name=eth1' }).net01 ?? '', /not defined in schema/);
});

test('named formats: lists, tags, storage ids, node names', () => {
  assert.deepEqual(validateParams(create91, { ...good, tags: 'a,b;c d' }), {});
  assert.match(validateParams(create91, { ...good, tags: 'ok,-bad' }).tags ?? '', /invalid characters in tag/);
  assert.match(validateParams(create91, { ...good, node: 'pve_1' }).node ?? '', /valid node name/);
  assert.match(validateParams(create91, { ...good, hostname: 'bad_host' }).hostname ?? '', /valid DNS name/);
  assert.match(validateParams(create91, { ...good, storage: 'x' }).storage ?? '', /illegal characters/);
  assert.match(validateParams(create91, { ...good, timezone: 'Etc/UTC' }).timezone ?? '', /invalid time zone/);
  assert.deepEqual(validateParams(create91, { ...good, timezone: 'Europe/Berlin', nameserver: '1.1.1.1 fe80::1%eth0' }), {});
});

test('Perl patterns: (?^: groups, (?^i: makes the whole pattern case-insensitive, anchoring like m/^$p$/', () => {
  assert.ok(perlPattern('(?^:\\d+(?:;\\d+)*)').test('10;20'));
  assert.ok(!perlPattern('(?^:\\d+(?:;\\d+)*)').test('10;x'));
  assert.ok(perlPattern('(?^i:abc)').test('ABC'));
  assert.ok(perlPattern('a|b').test('a'));
  assert.ok(!perlPattern('[-_.\\w\\d]+').test('vm br0'));
});

test('paths resolve to methods, literal segments before {params}; unknown paths do not', () => {
  const m = v91.find('GET', '/nodes/pve/lxc/200/status/current');
  assert.equal(m?.key, 'GET /nodes/{node}/lxc/{vmid}/status/current');
  assert.deepEqual(m?.pathParams, { node: 'pve', vmid: '200' });
  assert.equal(v91.find('GET', '/nodes/pve/tasks/UPID%3Apve%3A1/status')?.pathParams.upid, 'UPID:pve:1');
  assert.equal(v91.find('GET', '/nodes/pve/lxc/200/rrd'), undefined);
  assert.equal(v91.find('PATCH', '/version'), undefined);
});
