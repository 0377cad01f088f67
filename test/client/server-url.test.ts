import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseServerUrl } from '../../src/client/server-url.js';
import { FleetmonError } from '../../src/core/errors.js';

test('--server accepts URLs and HOST:PORT, and reads them into the root URL', () => {
  assert.equal(parseServerUrl('http://127.0.0.1:8080'), 'http://127.0.0.1:8080');
  assert.equal(parseServerUrl('http://127.0.0.1:8080/'), 'http://127.0.0.1:8080');
  assert.equal(parseServerUrl('https://mon.lan'), 'https://mon.lan');
  assert.equal(parseServerUrl('localhost:8080'), 'http://localhost:8080');
  assert.equal(parseServerUrl('localhost'), 'http://localhost:8080');
  assert.equal(parseServerUrl('10.1.2.3:9000'), 'http://10.1.2.3:9000');
  assert.equal(parseServerUrl('mon.lan'), 'http://mon.lan:8080');
  assert.equal(parseServerUrl('[::1]:8080'), 'http://[::1]:8080');
  assert.equal(parseServerUrl('  HTTP://Mon.Lan:81  '), 'http://mon.lan:81');
});

test('--server refuses what is no server root, in one line that says what to write', () => {
  const cases: [string, RegExp][] = [
    ['notaurl', /is not a URL or HOST:PORT/],
    ['', /is empty/],
    ['http://h:8080/api', /names the path \/api: give the server's root/],
    ['ftp://h', /ftp is not a scheme fleetmon speaks/],
    ['http://u:p@h:8080', /must not carry a user or password/],
    ['http://h:8080/?x=1', /must not have a query/],
    ['h:99999', /is not a URL or HOST:PORT/],
  ];
  for (const [given, message] of cases) {
    assert.throws(
      () => parseServerUrl(given),
      (err: unknown) => err instanceof FleetmonError && err.code === 'BAD_SERVER_URL' && message.test(err.message) && !err.message.includes('\n'),
      given,
    );
  }
});
