/**
 * startServer's failure paths: a configuration error found while building the Monitor (a notification channel's
 * secret file is missing) is reported as it is, and leaves no open database behind (checked by the process's own
 * file descriptors, so a leaked handle cannot hide).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { parseConfigObject } from '../../src/core/config.js';
import { FleetmonError } from '../../src/core/errors.js';
import { startServer } from '../../src/server/start.js';
import { tempDir } from '../helpers/common.js';

/** The files under `dir` this process holds open. */
function openFilesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const target = readlinkSync(join('/proc/self/fd', fd));
      if (target.startsWith(dir)) out.push(target);
    } catch {
      // The descriptor readdir itself used is gone by now.
    }
  }
  return out;
}

test('a notification channel whose secret file is missing: startServer refuses naming the file and leaves the database closed', async () => {
  const data = tempDir('fleetmon-start-');
  try {
    const missing = join(data.path, 'no-such-secret');
    const config = parseConfigObject(
      {
        hosts: [{ name: 'here', address: 'localhost', transport: 'local' }],
        server: { host: '127.0.0.1', port: 0, data_dir: data.path },
        notifications: { channels: [{ name: 'hook', type: 'webhook', url: 'http://127.0.0.1:9/hook', secret_file: missing }] },
      },
      'test',
    );
    await assert.rejects(
      startServer(config, { log: pino({ level: 'silent' }) }),
      (e: unknown) => e instanceof FleetmonError && e.code === 'CONFIG_SECRET' && e.message.includes(missing) && e.message.includes('ENOENT'),
    );
    assert.deepEqual(openFilesUnder(data.path), [], 'the database and its WAL are closed');
  } finally {
    data.remove();
  }
});
