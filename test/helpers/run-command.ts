/**
 * Runs one oclif command class in a child process (through tsx), the way a user would run it, so tests see its
 * real stdout, stderr and exit status.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from '../../src/paths.js';

export async function runCommand(
  commandFile: string,
  argv: string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  // As bin/run.js does through oclif's execute(): errors (including the exit of a failed command) go to handle().
  const script = `const { handle, flush } = await import('@oclif/core');
const m = await import(${JSON.stringify(join(packageRoot, commandFile))});
await m.default.run(JSON.parse(process.env.FLEETMON_TEST_ARGV), ${JSON.stringify(join(packageRoot, 'package.json'))}).then(() => flush(), (e) => handle(e));`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: packageRoot,
    env: { ...process.env, ...opts.env, FLEETMON_TEST_ARGV: JSON.stringify(argv) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  clearTimeout(timer);
  return { code, stdout, stderr };
}
