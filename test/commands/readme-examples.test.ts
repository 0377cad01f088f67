/**
 * Every command line in README.md's code blocks (`./bin/run.js …`, `fleetmon …`) is one oclif accepts: its command
 * is found in the oclif config, its flags and args parse (without running it), and its HOST arguments pass the
 * same target parser the command uses (src/keys/target.ts). The README's `export` lines are applied to the
 * environment first, as a reader's shell would (flags with a FLEETMON_* twin read it).
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Config, type Command } from '@oclif/core';
import { parseTarget } from '../../src/keys/target.js';
import { testDir } from '../helpers/common.js';

const repo = join(testDir, '..');

/** Words of one shell line as sh would split them (quotes, backslashes), up to a `#` comment. */
function words(line: string): string[][] {
  const commands: string[][] = [[]];
  let word: string | null = null;
  let quote: '"' | "'" | null = null;
  const push = () => {
    if (word !== null) commands.at(-1)!.push(word);
    word = null;
  };
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quote) {
      if (ch === quote) quote = null;
      else if (ch === '\\' && quote === '"' && i + 1 < line.length) word += line[++i]!;
      else word += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      word ??= '';
    } else if (ch === '\\' && i + 1 < line.length) word = (word ?? '') + line[++i]!;
    else if (/\s/.test(ch)) push();
    else if (ch === '#' && word === null) break;
    else if (ch === '&' || ch === ';' || ch === '|') {
      push();
      if (line[i + 1] === ch) i++;
      commands.push([]);
    } else word = (word ?? '') + ch;
  }
  push();
  return commands.filter((c) => c.length > 0);
}

interface Example {
  line: number;
  text: string;
  argv: string[];
}

/** The fleetmon command lines in README.md's code blocks, and the variables its `export` lines set. */
function readmeExamples(text: string): { examples: Example[]; env: Record<string, string> } {
  const examples: Example[] = [];
  const env: Record<string, string> = {};
  let inBlock = false;
  let output = false;
  text.split('\n').forEach((raw, i) => {
    const fence = /^\s*```\s*(\S*)/.exec(raw);
    if (fence) {
      inBlock = !inBlock;
      // A ```text block shows what a program printed (a captured screen), not lines to type.
      output = inBlock && fence[1] === 'text';
      return;
    }
    if (!inBlock || output) return;
    for (const cmd of words(raw)) {
      if (cmd[0] === 'export') {
        for (const assignment of cmd.slice(1)) {
          const eq = assignment.indexOf('=');
          if (eq > 0) env[assignment.slice(0, eq)] = assignment.slice(eq + 1);
        }
      }
      const at = cmd.findIndex((w) => w === './bin/run.js' || w === 'fleetmon');
      // Only a command position: the program itself, after any VAR=value prefixes.
      if (at >= 0 && cmd.slice(0, at).every((w) => /^[A-Z_][A-Z0-9_]*=/.test(w))) {
        examples.push({ line: i + 1, text: raw.trim(), argv: cmd.slice(at + 1) });
      }
    }
  });
  return { examples, env };
}

let config: Config;

before(async () => {
  // As bin/run.js does in a checkout: the sources stand in for dist/ (tsx is loaded by the test runner).
  process.env.NODE_ENV = 'development';
  config = await Config.load({ root: repo });
});

/** Why oclif (or the command's HOST parser) would refuse argv, or undefined when it accepts it. */
async function refusal(argv: string[], env: Record<string, string>): Promise<string | undefined> {
  let id: string | undefined;
  let rest: string[] = [];
  for (let n = argv.length; n > 0 && !id; n--) {
    const candidate = argv.slice(0, n).join(':');
    if (config.findCommand(candidate)) {
      id = candidate;
      rest = argv.slice(n);
    }
  }
  if (!id) return `no command ${JSON.stringify(argv.filter((w) => !w.startsWith('-')).slice(0, 2).join(' '))}`;
  const C = (await config.findCommand(id)!.load()) as typeof Command;
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    // The command's own parse (base flags, --json, env twins, the preparse hook), then stop: run() is never called.
    const command = new (C as unknown as new (argv: string[], config: Config) => Command)(rest, config);
    const parsed = await (command as unknown as { parse(c: typeof Command, argv: string[]): Promise<{ argv: unknown[] }> }).parse(C, rest);
    // keys deploy, keys revoke and up take HOST… arguments: every one goes through the commands' target parser.
    if (C.args?.host && C.strict === false) for (const host of parsed.argv as string[]) parseTarget(host, 22);
    return undefined;
  } catch (err) {
    return (err as Error).message.replace(/\s+/g, ' ').trim();
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
}

test('every fleetmon command line in README.md parses: command, flags, args and HOSTs', async () => {
  const { examples, env } = readmeExamples(readFileSync(join(repo, 'README.md'), 'utf8'));
  assert.ok(examples.length >= 10, `only ${examples.length} examples found`);
  const refused: string[] = [];
  for (const ex of examples) {
    const why = await refusal(ex.argv, env);
    if (why) refused.push(`README.md:${ex.line}: ${ex.text}\n  ${why}`);
  }
  assert.deepEqual(refused, []);
});

test('the check refuses what oclif or the HOST parser would: an unknown flag, a missing value, a bad HOST, no command', async () => {
  assert.match((await refusal(['keys', 'deploy', '--nope', 'gpu1'], {})) ?? '', /Nonexistent flag: --nope/);
  assert.match((await refusal(['keys', 'deploy', 'gpu1', 'root@build:99999'], {})) ?? '', /cannot read host "root@build:99999"/);
  assert.match((await refusal(['provision'], {})) ?? '', /Missing required flag/);
  assert.match((await refusal(['sessions', '--status', 'sleepy'], {})) ?? '', /Expected --status=sleepy to be one of/);
  assert.match((await refusal(['sesions'], {})) ?? '', /no command "sesions"/);
  assert.equal(await refusal(['keys', 'deploy', 'gpu1', 'root@build:2222', '[fd00::1]:22'], {}), undefined);
});

test('the README reader finds commands after &&, drops comments and applies export lines', () => {
  const { examples, env } = readmeExamples(
    "```sh\nexport FLEETMON_PVE_URL=https://pve1:8006 T='a b'\nnpm install && ./bin/run.js serve --port 1  # c\necho fleetmon x\n```\n./bin/run.js outside\n",
  );
  assert.deepEqual(examples.map((e) => e.argv), [['serve', '--port', '1']]);
  assert.deepEqual(env, { FLEETMON_PVE_URL: 'https://pve1:8006', T: 'a b' });
});
