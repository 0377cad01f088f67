/** The one place that knows where shipped assets live, whether running from src/ (tsx) or dist/ (compiled). */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
/** Package root: the parent of src/ or dist/. */
export const packageRoot = join(here, '..');
export const templatesDir = join(packageRoot, 'templates');
/** Static assets are not compiled, so they are always read from src/. */
export const publicDir = join(packageRoot, 'src', 'server', 'public');
export const probeScriptPath = join(packageRoot, 'src', 'protocol', 'probe.sh');
export const gateScriptPath = join(packageRoot, 'src', 'protocol', 'gate.sh');
/** The root helper `keys deploy --all-users` installs beside the gate (tmux of every user, through sudo). */
export const helperScriptPath = join(packageRoot, 'src', 'protocol', 'tmux-all-users.sh');

export function assertAssets(): void {
  for (const p of [publicDir, probeScriptPath]) {
    if (!existsSync(p)) throw new Error(`fleetmon is installed incompletely: ${p} is missing`);
  }
}

/**
 * V8 flags of every fleetmon process: bin/run.js's shebang and the container's CLI wrapper (a test keeps them in
 * step). Node's default young generation grows to 3 × 16 MiB under the allocation of a poll cycle; 4 MiB
 * semi-spaces cost nothing measurable.
 */
export const CLI_NODE_FLAGS = ['--max-semi-space-size=4'] as const;

/**
 * V8 flags of the monitor service (the systemd unit's ExecStart; the benchmark runs the server the same way). The
 * monitor usually runs in a small container, and V8 lets the old generation grow well past what is live.
 * Benchmarked at 200 hosts × 10 sessions (npm run bench): RSS 150 MiB with Node's defaults, 137–144 with 4 MiB
 * semi-spaces, 103–114 with --optimize-for-size as well, for about 0.4 ms more CPU per host and cycle (under 1 %
 * of a core for 200 hosts at the default 30 s interval). Not for the CLI: with it `fleetmon --version` took
 * ~296 ms instead of ~210.
 */
export const SERVE_NODE_FLAGS = [...CLI_NODE_FLAGS, '--optimize-for-size'] as const;
