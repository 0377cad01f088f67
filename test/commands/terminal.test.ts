/**
 * What a person at a terminal sees, run under a real pseudo-terminal (`script -qfec CMD /dev/null`, util-linux):
 * the one-line notice of a checkout running from its sources, the not-found plugin's "did you mean", and the
 * autocomplete plugin's setup and cache. Run without a TTY, the notice stays silent.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, readdirSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { shJoin } from '../../src/core/shell-quote.js';
import { tempDir, testDir } from '../helpers/common.js';

const repo = join(testDir, '..');
const NOTICE = /running from the TypeScript sources \(dist\/ is missing or older than src\/\); `npm run build` makes every start several times faster/;

/**
 * A checkout of this repository without a current dist/: bin/run.js, package.json and the tsconfigs copied, src/
 * and node_modules linked. (The repository itself may hold a fresh build; this one never does.)
 */
function checkout(stale: boolean): { root: string; remove(): void } {
  const dir = tempDir('fleetmon-checkout-');
  mkdirSync(join(dir.path, 'bin'));
  copyFileSync(join(repo, 'bin', 'run.js'), join(dir.path, 'bin', 'run.js'));
  for (const f of readdirSync(repo).filter((n) => n === 'package.json' || /^tsconfig.*\.json$/.test(n))) copyFileSync(join(repo, f), join(dir.path, f));
  symlinkSync(join(repo, 'src'), join(dir.path, 'src'));
  symlinkSync(join(repo, 'node_modules'), join(dir.path, 'node_modules'));
  if (stale) {
    // A build from long ago: its stamp is older than every source file.
    mkdirSync(join(dir.path, 'dist'));
    writeFileSync(join(dir.path, 'dist', '.built'), 'old');
    utimesSync(join(dir.path, 'dist', '.built'), new Date(0), new Date(0));
  }
  return { root: dir.path, remove: () => dir.remove() };
}

interface Run {
  code: number;
  out: string;
  err: string;
}

/** argv run under a pseudo-terminal; `answer` is typed once `prompt` shows. Output is stdout and stderr merged. */
function onPty(argv: string[], opts: { env?: NodeJS.ProcessEnv; prompt?: RegExp; answer?: string } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn('script', ['-qfec', shJoin(argv), '/dev/null'], {
      env: { ...process.env, FORCE_COLOR: '0', ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let answered = false;
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (opts.prompt && !answered && opts.prompt.test(stripVTControlCharacters(out))) {
        answered = true;
        child.stdin.write(opts.answer ?? '\n');
      }
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      child.stdin.destroy();
      resolve({ code: code ?? -1, out: stripVTControlCharacters(out), err: '' });
    });
  });
}

/** argv run with pipes only: no TTY anywhere. */
function onPipes(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('close', (code) => resolve({ code: code ?? -1, out: stripVTControlCharacters(out), err: stripVTControlCharacters(err) }));
  });
}

const checkouts: Array<{ remove(): void }> = [];
after(() => checkouts.forEach((c) => c.remove()));

test('a checkout without a current dist/ says once, on a terminal, why commands are slow; silent without a TTY', async () => {
  let first = '';
  for (const stale of [false, true]) {
    const c = checkout(stale);
    first ||= c.root;
    checkouts.push(c);
    const bin = join(c.root, 'bin', 'run.js');
    const tty = await onPty([process.execPath, bin, '--version']);
    assert.equal(tty.code, 0, tty.out);
    assert.match(tty.out, NOTICE, `stale dist: ${stale}`);
    assert.equal(tty.out.match(new RegExp(NOTICE.source, 'g'))?.length, 1, 'one line, once');
    assert.match(tty.out, /fleetmon\/\d+\.\d+\.\d+/);

    const piped = await onPipes([process.execPath, bin, '--version']);
    assert.equal(piped.code, 0, piped.err);
    assert.match(piped.out, /fleetmon\/\d+\.\d+\.\d+/);
    assert.doesNotMatch(piped.err + piped.out, /TypeScript sources/);
  }
  // FLEETMON_QUIET_DEV silences it on a terminal too (for scripts run under `script` or tmux).
  const quiet = await onPty([process.execPath, join(first, 'bin', 'run.js'), '--version'], { env: { FLEETMON_QUIET_DEV: '1' } });
  assert.doesNotMatch(quiet.out, /TypeScript sources/);
});

test('an unknown command on a terminal asks "did you mean sessions?"; answering n exits 127 without running it', async () => {
  const r = await onPty([process.execPath, join(repo, 'bin', 'run.js'), 'sesions'], { env: { FLEETMON_QUIET_DEV: '1' }, prompt: /Did you mean sessions\?/, answer: 'n\r' });
  assert.match(r.out, /sesions is not a fleetmon command/);
  assert.match(r.out, /Did you mean sessions\?/);
  assert.match(r.out, /Run fleetmon help for a list of available commands/);
  assert.equal(r.code, 127, r.out);
  assert.doesNotMatch(r.out, /^ID\s+STATUS/m, 'sessions did not run');
  assert.doesNotMatch(r.out, /\n\s+at .+:\d+:\d+/, 'no stack trace');
});

test('autocomplete prints bash setup instructions and builds a completion cache naming the installed commands', async () => {
  const home = tempDir('fleetmon-home-');
  checkouts.push(home);
  const env = { HOME: home.path, XDG_CACHE_HOME: join(home.path, '.cache'), FLEETMON_QUIET_DEV: '1' };
  const bin = join(repo, 'bin', 'run.js');
  const setup = await onPipes([process.execPath, bin, 'autocomplete', 'bash'], env);
  assert.equal(setup.code, 0, setup.err);
  assert.match(setup.out, /Setup Instructions for FLEETMON CLI Autocomplete/);
  assert.match(setup.out, /printf "\$\(fleetmon autocomplete script bash\)" >> ~\/\.bashrc/);

  const refresh = await onPipes([process.execPath, bin, 'autocomplete', '--refresh-cache'], env);
  assert.equal(refresh.code, 0, refresh.err);
  const functions = readFileSync(join(home.path, '.cache', 'fleetmon', 'autocomplete', 'functions', 'bash', 'fleetmon.bash'), 'utf8');
  assert.match(functions, /^sessions:kill .*--yes --force/m);
  assert.match(functions, /^alerts:ack /m);
  for (const id of ['serve', 'status', 'hosts', 'sessions', 'keys:deploy', 'lxc:create', 'up']) assert.match(functions, new RegExp(`^${id} `, 'm'), id);
});
