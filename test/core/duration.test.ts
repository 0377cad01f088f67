import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatHours } from '../../src/core/duration.js';

test('a detached time reads in minutes under an hour, never "0 h"; hours under two days; then days', () => {
  assert.equal(formatHours(0), 'under a minute');
  assert.equal(formatHours(0.01), 'under a minute');
  assert.equal(formatHours(0.25), '15 min');
  assert.equal(formatHours(59.9 / 60), '59 min');
  assert.equal(formatHours(1), '1 h');
  assert.equal(formatHours(5.26), '5.2 h');
  assert.equal(formatHours(48), '2 d');
  assert.equal(formatHours(80.5), '3 d 8 h');
});
