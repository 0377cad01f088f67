/**
 * The /health probe provision runs on the container with the container's node, here against real servers: it must
 * find the service whether it speaks HTTP or HTTPS (server.tls: self-signed), and say which one answered.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { parseConfigObject } from '../../src/core/config.js';
import { HEALTH_SCRIPT } from '../../src/provision/apply.js';
import { startServer } from '../../src/server/start.js';
import { tempDir } from '../helpers/common.js';

for (const tls of [null, 'self-signed'] as const) {
  test(`the health probe finds a ${tls ?? 'plain HTTP'} server from its http:// URL and names the scheme that answered`, async () => {
    const data = tempDir();
    const config = parseConfigObject({ hosts: [], server: { host: '127.0.0.1', port: 0, data_dir: data.path, tls } }, 'test');
    const server = await startServer(config, { log: pino({ level: 'silent' }) });
    try {
      const httpUrl = `${server.url.replace(/^https:/, 'http:')}/health`;
      const { stdout } = await promisify(execFile)(process.execPath, ['-e', HEALTH_SCRIPT, httpUrl, '10000'], { encoding: 'utf8' });
      const scheme = tls ? 'https' : 'http';
      assert.ok(stdout.startsWith(`${scheme}://127.0.0.1:`), stdout);
      assert.match(stdout, /"status":"ok"/);
    } finally {
      await server.close();
      data.remove();
    }
  });
}
