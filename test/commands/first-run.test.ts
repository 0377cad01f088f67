/** What a new user meets first, run as they run it (bin/run.js): bad --server values, typos, help and version. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { testDir } from '../helpers/common.js';

const bin = join(testDir, '..', 'bin', 'run.js');

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // Colour codes are stripped: CI may set FORCE_COLOR, and what is asserted is the words.
    child.on('close', (code) => resolve({ code: code ?? -1, stdout: stripVTControlCharacters(stdout), stderr: stripVTControlCharacters(stderr) }));
  });
}

const noStack = (text: string) => assert.doesNotMatch(text, /\n\s+at .+:\d+:\d+/, `a stack trace in:\n${text}`);

test('--server that is no server root is refused in one line with exit 2, before any request', async () => {
  for (const value of ['notaurl', 'http://127.0.0.1:9/api']) {
    const r = await cli(['status', '--server', value]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--server ".+": /);
    assert.match(r.stderr, /write it as http:\/\/HOST:PORT/);
    noStack(r.stderr);
  }
});

test('--server HOST:PORT is accepted and tried (nothing listens on port 9)', async () => {
  const r = await cli(['status', '--json', '--server', '127.0.0.1:9']);
  assert.notEqual(r.code, 0);
  assert.match(r.stdout + r.stderr, /cannot reach the fleetmon server at http:\/\/127\.0\.0\.1:9/);
  noStack(r.stderr);
});

test('help, version and an unknown command behave as oclif users expect', async () => {
  const help = await cli(['help', 'sessions']);
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /List tmux sessions across the fleet/);
  assert.match(help.stdout, /\$ fleetmon sessions/);

  const version = await cli(['version']);
  assert.equal(version.code, 0, version.stderr);
  assert.match(version.stdout, /^fleetmon\/\d+\.\d+\.\d+ /);

  const typo = await cli(['sesions']);
  assert.equal(typo.code, 127);
  assert.match(typo.stderr, /sesions is not a fleetmon command/);
  assert.match(typo.stderr, /fleetmon help/);
  noStack(typo.stderr);
});

test('bin/dev.js runs the sources even when a build left an oclif.manifest.json naming dist/', async () => {
  // A manifest from an older build: had dev.js used it, oclif would have listed (and loaded) only what it names.
  const manifest = join(testDir, '..', 'oclif.manifest.json');
  writeFileSync(manifest, JSON.stringify({ version: '0.1.0', commands: {} }));
  const r = await new Promise<{ code: number; stdout: string }>((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(testDir, '..', 'bin', 'dev.js'), '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout }));
  });
  assert.equal(r.code, 0);
  assert.match(r.stdout, /serve\s+Run the monitor/);
  assert.equal(existsSync(manifest), false, 'the stale manifest is gone');
});
