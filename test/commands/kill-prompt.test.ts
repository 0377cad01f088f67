/**
 * `fleetmon sessions kill` at its confirmation prompt, typed at in a real pseudo-terminal (util-linux script(1)):
 * `n` exits 0 with "not killed" and leaves the session; `y` kills it. A real server monitors this machine's tmux.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { pino } from 'pino';
import { parseConfigObject } from '../../src/core/config.js';
import { shQuote } from '../../src/core/shell-quote.js';
import { startServer, type RunningServer } from '../../src/server/start.js';
import { tempDir, testDir, waitFor } from '../helpers/common.js';

const bin = join(testDir, '..', 'bin', 'run.js');
const data = tempDir();
const tmuxDir = tempDir('fleetmon-tmux-');
const tmuxEnv = { ...process.env, TMUX_TMPDIR: tmuxDir.path };
let server: RunningServer;

before(async () => {
  process.env.TMUX_TMPDIR = tmuxDir.path;
  spawnSync('tmux', ['new-session', '-d', '-s', 'prompt-me', 'sleep 600'], { env: tmuxEnv });
  const config = parseConfigObject(
    {
      polling_interval_seconds: 1,
      hosts: [{ name: 'here', address: 'localhost', transport: 'local' }],
      server: { port: 0, data_dir: data.path },
    },
    'test',
  );
  server = await startServer(config, { log: pino({ level: 'silent' }) });
  await waitFor(() => server.monitor.hosts()[0]?.sessions.some((s) => s.name === 'prompt-me'), 10_000, 'the session');
});

after(async () => {
  await server.close();
  spawnSync('tmux', ['kill-server'], { env: tmuxEnv });
  data.remove();
  tmuxDir.remove();
});

/** Runs the kill on a terminal, types `answer` and Enter at the prompt; the exit status is the command's (script -e). */
async function killAnswering(answer: string): Promise<{ code: number | null; output: string }> {
  const cmd = [process.execPath, bin, 'sessions', 'kill', 'here:prompt-me', '--force', '--server', server.url].map(shQuote).join(' ');
  const child = spawn('script', ['-qfec', cmd, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...tmuxEnv, FLEETMON_DATA_DIR: data.path } });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  try {
    await waitFor(() => out.includes('[y/N]'), 30_000, 'the confirmation prompt');
    child.stdin.write(`${answer}\r`);
    const code = await Promise.race([exited, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no exit after the answer:\n${out}`)), 15_000))]);
    return { code, output: stripVTControlCharacters(out).replace(/\r/g, '') };
  } finally {
    child.kill('SIGKILL');
  }
}

const tmuxHas = () => spawnSync('tmux', ['has-session', '-t', '=prompt-me'], { env: tmuxEnv }).status === 0;

test('answering n at the prompt exits 0, says "not killed" and leaves the session running', async () => {
  const r = await killAnswering('n');
  assert.match(r.output, /Kill session 'prompt-me' on here\? \[y\/N\] n\n/, r.output);
  assert.match(r.output, /^not killed$/m, r.output);
  assert.doesNotMatch(r.output, /Error|\n\s+at /, r.output);
  assert.equal(r.code, 0, r.output);
  assert.ok(tmuxHas(), 'the session is still there');
});

test('answering y at the prompt kills the session and exits 0', async () => {
  const r = await killAnswering('y');
  assert.match(r.output, /^killed here:prompt-me$/m, r.output);
  assert.equal(r.code, 0, r.output);
  assert.ok(!tmuxHas(), 'the session is gone');
});
