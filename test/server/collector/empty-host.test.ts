// A host before its first poll says why its session list is empty (pure: emptyHost from a parsed configuration).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfigObject } from '../../../src/core/config.js';
import { emptyHost } from '../../../src/server/collector/poller.js';

test('before the first poll a host lists no sessions and says it has not been polled, rather than seeming idle', () => {
  const config = parseConfigObject({ hosts: [{ name: 'gpu1', address: '10.0.0.5' }] }, 'test');
  const host = emptyHost(config, config.hosts[0]!);
  assert.equal(host.pending, true);
  assert.deepEqual(host.sessions, []);
  assert.deepEqual(host.sessions_scope, { scope: 'own-account', reason: 'not polled yet' });
});
