import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfigObject } from '../../../src/core/config.js';
import { databaseMovedAside, pinsAfterLosingRecordedKeys } from '../../../src/server/alerts/server-alerts.js';

const PIN = 'SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s';
const config = (ssh: Record<string, unknown> = {}) =>
  parseConfigObject(
    {
      ssh,
      hosts: [
        { name: 'here', address: 'localhost', transport: 'local' },
        { name: 'pinned', address: '10.0.0.1', host_key: PIN },
        { name: 'back', address: '10.0.0.2' },
        { name: 'lost', address: '10.0.0.3' },
      ],
    },
    't',
  );

test('which SSH hosts stay pinned, got their recorded key back, or will trust on first use again', () => {
  assert.deepEqual(pinsAfterLosingRecordedKeys(config(), ['back']), { stillPinned: ['pinned'], recovered: ['back'], relearned: ['lost'] });
  // With ssh.known_hosts every host is pinned by it: nothing recorded on first use mattered.
  assert.deepEqual(pinsAfterLosingRecordedKeys(config({ known_hosts: '/etc/ssh/ssh_known_hosts' })), { stillPinned: ['pinned', 'back', 'lost'], recovered: [], relearned: [] });
});

test('the alert names both files, the recovered, the lost and the still pinned hosts', () => {
  const c = databaseMovedAside('/d/fleetmon.db', '/d/fleetmon.db.corrupt-X', config(), ['back']);
  assert.equal(c.type, 'database_moved_aside');
  assert.equal(c.severity, 'critical');
  assert.equal(c.host, '(server)');
  assert.equal(
    c.message,
    'the database /d/fleetmon.db failed its integrity check and was moved aside to /d/fleetmon.db.corrupt-X (history, audit and acknowledgements are in that file); ' +
      'fleetmon started with a new, empty one. The host keys recorded on first use of back were read back from it and stay pinned. ' +
      'The host keys recorded on first use of the others were lost with it: lost will trust the next key they present and record it again; ' +
      "check each fingerprint on the host's console (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub) and pin it with host_key in hosts.yml. " +
      'Still pinned by the configuration (host_key or ssh.known_hosts): pinned.',
  );
});
