import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ProxmoxEngine } from 'proxmox-api';
import { Response } from 'undici';
import { FleetmonError, EXIT } from '../../../src/core/errors.js';
import { connectPve, parseProxmoxUrl, parseToken } from '../../../src/lxc/proxmox/client.js';
import { PinMismatchError, ProxmoxApiError, ProxmoxConnectionError, toFleetmonError } from '../../../src/lxc/proxmox/errors.js';
import { PveTransport, type FetchLike } from '../../../src/lxc/proxmox/transport.js';
import { parseFingerprint } from '../../../src/lxc/proxmox/tls.js';
import { startPveSimulator, TEST_TOKEN, tokenHeaderValue, type PveSimulator } from '../../pve/simulator.js';

const TOKEN = tokenHeaderValue(TEST_TOKEN);

function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => assert.fail('expected a rejection'),
    (err: unknown) => err,
  );
}

describe('parsing --proxmox, --token, --fingerprint', () => {
  test('the port defaults to 8006 and only https is accepted', () => {
    assert.equal(parseProxmoxUrl('pve1').href, 'https://pve1:8006/');
    assert.equal(parseProxmoxUrl('https://pve1').href, 'https://pve1:8006/');
    assert.equal(parseProxmoxUrl('https://10.0.0.2:8443/api2/json/').href, 'https://10.0.0.2:8443/');
    for (const bad of ['http://pve1:8006', 'https://root:pw@pve1', 'https://pve1:8006/pve2/']) {
      const err = (() => {
        try {
          parseProxmoxUrl(bad);
        } catch (e) {
          return e;
        }
      })();
      assert.ok(err instanceof FleetmonError && err.exit === EXIT.usage, bad);
    }
  });

  test('tokens are USER@REALM!TOKENID=SECRET', () => {
    assert.deepEqual(parseToken('fleetmon@pve!ci=abc-123'), { tokenId: 'fleetmon@pve!ci', secret: 'abc-123' });
    assert.deepEqual(parseToken('PVEAPIToken=root@pam!x=s'), { tokenId: 'root@pam!x', secret: 's' });
    assert.throws(() => parseToken('root@pam:password'), (e: unknown) => e instanceof FleetmonError && e.code === 'BAD_PVE_TOKEN');
    assert.throws(() => parseToken('root@pam!a!b=s'), FleetmonError);
  });

  test('fingerprints: a public-key pin in two spellings, or 64 hex digits', () => {
    const b64 = Buffer.alloc(32, 7).toString('base64');
    assert.equal(parseFingerprint(`sha256//${b64}`).kind, 'spki');
    assert.equal(parseFingerprint(`SHA256:${b64.replace(/=$/, '')}`).kind, 'spki');
    const hex = parseFingerprint(Buffer.alloc(32, 0xab).toString('hex').toUpperCase().match(/../g)?.join(':') ?? '');
    assert.equal(hex.kind, 'any');
    assert.throws(() => parseFingerprint('AB:CD'), (e: unknown) => e instanceof FleetmonError && e.exit === EXIT.usage);
  });
});

describe('TLS against the simulator', () => {
  let sim: PveSimulator;
  before(async () => {
    sim = await startPveSimulator({ authFailDelayMs: 20 });
  });
  after(() => sim.close());

  test('the cluster CA (--ca-file) is trusted, with the hostname checked', async () => {
    const client = connectPve({ url: sim.url, token: TOKEN, caFile: sim.caFile });
    try {
      assert.equal((await client.version()).release, '9.1');
    } finally {
      await client.close();
    }
  });

  test('a pin matches the public key (sha256//…) or the certificate (AA:BB:…)', async () => {
    for (const fingerprint of [`sha256//${sim.fingerprint.spki}`, sim.fingerprint.cert]) {
      const client = connectPve({ url: sim.url, token: TOKEN, fingerprint });
      try {
        assert.equal(await client.nextId(), 100, 'nextid arrives as a string and is returned as a number');
      } finally {
        await client.close();
      }
    }
  });

  test('a pin mismatch is refused after the handshake and before any request (so the token is never sent)', async () => {
    const before = { requests: sim.requests.length, connections: sim.connections };
    const wrong = `sha256//${Buffer.alloc(32, 1).toString('base64')}`;
    const client = connectPve({ url: sim.url, token: TOKEN, fingerprint: wrong });
    try {
      const err = await rejection(client.version());
      assert.ok(err instanceof ProxmoxConnectionError);
      assert.ok(err.cause instanceof PinMismatchError);
      assert.equal(err.mayHaveReachedServer, false);
      const fe = toFleetmonError(err);
      assert.equal(fe.code, 'PVE_TLS_PIN_MISMATCH');
      assert.equal(fe.exit, EXIT.auth);
      assert.match(fe.message, new RegExp(sim.fingerprint.spki.replace(/[+/]/g, '\\$&')), 'says what the server presented');
    } finally {
      await client.close();
    }
    // The client saw the server's real key (the message names it), so the handshake ran; yet nothing was sent.
    assert.ok(sim.connections > before.connections, 'the client connected');
    assert.equal(sim.requests.length, before.requests, 'no HTTP request reached the server');
  });

  test('without a CA or pin the self-signed node is not trusted; --insecure works and warns', async () => {
    const n = sim.requests.length;
    const strict = connectPve({ url: sim.url, token: TOKEN });
    try {
      const fe = toFleetmonError(await rejection(strict.version()));
      assert.equal(fe.code, 'PVE_TLS_UNTRUSTED');
      assert.equal(fe.exit, EXIT.auth);
      assert.ok(fe.suggestions.some((s) => s.includes('--fingerprint')));
    } finally {
      await strict.close();
    }
    assert.equal(sim.requests.length, n);
    const warnings: string[] = [];
    const insecure = connectPve({ url: sim.url, token: TOKEN, insecure: true, warn: (m) => warnings.push(m) });
    try {
      assert.equal((await insecure.version()).release, '9.1');
    } finally {
      await insecure.close();
    }
    assert.match(warnings[0] ?? '', /NOT verified/);
    assert.ok(warnings.some((w) => w.includes(`sha256//${sim.fingerprint.spki}`)), 'tells what to pin');
  });

  test('errors come back structured: 401, 403 with the privilege, 400 with errors', async () => {
    const bad = connectPve({ url: sim.url, token: 'fleetmon@pve!ci=wrong', caFile: sim.caFile });
    try {
      const err = await rejection(bad.version());
      assert.ok(err instanceof ProxmoxApiError);
      assert.equal(err.status, 401);
      assert.equal(err.message, 'invalid token value!');
      assert.equal(toFleetmonError(err).exit, EXIT.auth);
    } finally {
      await bad.close();
    }
    const client = connectPve({ url: sim.url, token: TOKEN, caFile: sim.caFile });
    try {
      const err400 = await rejection(client.transport.request('GET', '/cluster/nextid', { vmid: 'x' }));
      assert.ok(err400 instanceof ProxmoxApiError);
      assert.equal(err400.status, 400);
      assert.deepEqual(err400.errors, { vmid: "type check ('integer') failed - got 'x'" });
      assert.match(toFleetmonError(err400).message, /vmid: type check/);
      const forbidden = new ProxmoxApiError({ status: 403, message: 'Permission check failed (/vms/200, VM.Allocate)', method: 'POST', path: '/nodes/pve/lxc' });
      assert.deepEqual(forbidden.missingPrivilege, { path: '/vms/200', privileges: ['VM.Allocate'] });
      const fe = toFleetmonError(forbidden);
      assert.equal(fe.exit, EXIT.auth);
      assert.match(fe.message, /lacks VM\.Allocate on \/vms\/200/);
    } finally {
      await client.close();
    }
  });
});

describe('transport', () => {
  const base = new URL('https://pve.test:8006');

  test('a POST that failed without an answer is not sent again (proxmox-api\'s own engine would)', async () => {
    let calls = 0;
    const failing: FetchLike = async () => {
      calls++;
      throw new TypeError('fetch failed', { cause: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }) });
    };
    const t = new PveTransport({ baseUrl: base, tokenId: 'a@pve!t', tokenSecret: 's', fetch: failing });
    const err = await rejection(t.doRequest('POST', '/api2/json/nodes/pve/lxc', '/nodes/{node}/lxc', { vmid: 200 }));
    assert.ok(err instanceof ProxmoxConnectionError);
    assert.equal(err.mayHaveReachedServer, true);
    assert.equal(calls, 1);

    calls = 0;
    const engine = new ProxmoxEngine({
      host: 'pve.test', port: 8006, tokenID: 'a@pve!t', tokenSecret: '01234567-89ab-cdef-0123-456789abcdef',
      queryTimeout: 50, // its abort timer is not cleared when fetch throws; keep it short so the test exits
      fetch: failing as unknown as ConstructorParameters<typeof ProxmoxEngine>[0]['fetch'],
    });
    await rejection(engine.doRequest('POST', '/api2/json/nodes/pve/lxc', '/nodes/{node}/lxc', { vmid: 200 }));
    assert.equal(calls, 2, 'the library retries the POST blindly, which is why fleetmon has its own transport');
  });

  test('encoding: booleans as 1/0, arrays repeated, nulls dropped; GET in the query, POST in the body', async () => {
    const seen: { url: string; body?: string; headers: Record<string, string> }[] = [];
    const fake: FetchLike = async (url, init) => {
      seen.push({ url: String(url), body: init?.body as string | undefined, headers: init?.headers as Record<string, string> });
      return new Response('{"data":"ok"}', { status: 200, headers: { 'content-type': 'application/json;charset=UTF-8' } });
    };
    const t = new PveTransport({ baseUrl: base, tokenId: 'a@pve!t', tokenSecret: 's', fetch: fake });
    await t.doRequest('GET', '/api2/json/cluster/resources', '', { type: 'vm', full: true, skip: null });
    await t.doRequest('POST', '/api2/json/nodes/pve/lxc', '', { start: false, tag: ['a', 'b'], gone: undefined });
    assert.equal(seen[0]?.url, 'https://pve.test:8006/api2/json/cluster/resources?type=vm&full=1');
    assert.equal(seen[0]?.body, undefined);
    assert.equal(seen[1]?.body, 'start=0&tag=a&tag=b');
    assert.equal(seen[1]?.headers['Content-Type'], 'application/x-www-form-urlencoded');
    assert.equal(seen[1]?.headers.Authorization, 'PVEAPIToken=a@pve!t=s');
  });

  test('an answer that is not Proxmox JSON is an error, not data', async () => {
    const html: FetchLike = async () => new Response('<html>login</html>', { status: 200, headers: { 'content-type': 'text/html' } });
    const t = new PveTransport({ baseUrl: base, tokenId: 'a@pve!t', tokenSecret: 's', fetch: html });
    const err = await rejection(t.doRequest('GET', '/api2/json/version', ''));
    assert.ok(err instanceof ProxmoxApiError);
    assert.match(err.message, /not a Proxmox VE API answer/);
  });
});
