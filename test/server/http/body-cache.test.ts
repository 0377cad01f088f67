/**
 * The body cache joins each item's own JSON: the bytes are exactly JSON.stringify of the list, gzip (made on the
 * thread pool) unpacks to them, an unchanged item is not serialized again in the next generation, a replaced one is.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { BodyCache } from '../../../src/server/http/body-cache.js';

test('a list body is the list as JSON, gzip unpacks to it, and unchanged items keep their bytes across cycles', async () => {
  const cache = new BodyCache();
  let stringified = 0;
  const item = (name: string) => ({ name, toJSON() { stringified += 1; return { name, note: 'é "quoted"' }; } });
  const a = item('a');
  let list: object[] = [a, item('b')];
  for (const x of list) cache.warm(x);
  assert.equal(stringified, 2);
  const json = cache.get('hosts', () => list) as Buffer;
  assert.equal(stringified, 2, 'warm items are joined, not serialized again');
  assert.equal(json.toString(), JSON.stringify(list));
  stringified = 0;
  const gz = await cache.get('hosts', () => list, 'gzip');
  assert.deepEqual(gunzipSync(gz), json);
  cache.invalidate();
  list = [a, item('c')];
  const next = cache.json('hosts', () => list);
  assert.equal(stringified, 1, 'only the new item was serialized for the new cycle');
  assert.equal(next.toString(), JSON.stringify(list));
  assert.equal(cache.json('empty', () => []).toString(), '[]');
});
