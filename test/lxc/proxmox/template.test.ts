import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseDebian12Template, compareVersions } from '../../../src/lxc/proxmox/template.js';
import { missingPrivileges } from '../../../src/lxc/proxmox/privileges.js';

const apl = (template: string) => ({ template, type: 'lxc' });
const index = [
  apl('debian-11-standard_11.7-1_amd64.tar.zst'),
  apl('debian-12-standard_12.2-1_amd64.tar.zst'),
  apl('debian-12-standard_12.12-1_amd64.tar.zst'),
  apl('debian-12-standard_12.7-1_amd64.tar.zst'),
  apl('debian-13-standard_13.1-2_amd64.tar.zst'),
  apl('debian-12-turnkey-core_18.0-1_amd64.tar.gz'),
];

test('versions compare numerically, segment by segment', () => {
  assert.ok(compareVersions('12.12-1', '12.7-1') > 0);
  assert.ok(compareVersions('12.7-2', '12.7-1') > 0);
  assert.equal(compareVersions('12.7-1', '12.7-1'), 0);
});

test('the newest Debian 12 standard template from the index, downloaded unless present', () => {
  assert.deepEqual(chooseDebian12Template(index, [], 'local'), {
    template: 'debian-12-standard_12.12-1_amd64.tar.zst', volid: 'local:vztmpl/debian-12-standard_12.12-1_amd64.tar.zst', version: '12.12-1', download: true,
  });
  const present = chooseDebian12Template(index, ['local:vztmpl/debian-12-standard_12.12-1_amd64.tar.zst'], 'local');
  assert.equal(present?.download, false);
  // Present on another storage does not count.
  assert.equal(chooseDebian12Template(index, ['nas:vztmpl/debian-12-standard_12.12-1_amd64.tar.zst'], 'local')?.download, true);
});

test('without an index (no internet on the node) the newest local Debian 12 template is used; none at all is undefined', () => {
  const local = ['local:vztmpl/debian-12-standard_12.2-1_amd64.tar.zst', 'local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst', 'local:vztmpl/alpine.tar.xz'];
  assert.deepEqual(chooseDebian12Template([], local, 'local'), {
    template: 'debian-12-standard_12.7-1_amd64.tar.zst', volid: 'local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst', version: '12.7-1', download: false,
  });
  assert.equal(chooseDebian12Template([apl('debian-13-standard_13.1-2_amd64.tar.zst')], [], 'local'), undefined);
});

test('missing privileges: all-of, any-of, and a pool that also grants', () => {
  const needs = [
    { path: '/vms/200', alsoOn: ['/pool/mon'], privileges: ['VM.Allocate', 'VM.Audit'], why: 'create' },
    { path: '/storage/local', privileges: ['Datastore.Audit', 'Datastore.AllocateSpace'], any: true, why: 'template' },
  ];
  assert.deepEqual(missingPrivileges(needs, { '/vms/200': ['VM.Audit'], '/pool/mon': ['VM.Allocate'], '/storage/local': ['Datastore.AllocateSpace'] }), []);
  assert.deepEqual(missingPrivileges(needs, { '/vms/200': ['VM.Audit'] }), [
    { path: '/vms/200', privilege: 'VM.Allocate', why: 'create' },
    { path: '/storage/local', privilege: 'Datastore.Audit or Datastore.AllocateSpace', why: 'template' },
  ]);
});
