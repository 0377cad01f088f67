/**
 * The app bundle `provision` installs in the container: this package's shipped files (package.json, bin/, dist/,
 * templates/, the dashboard and the collector scripts) plus its production dependencies as installed here
 * (from package-lock.json, dev-only packages left out). Native modules in node_modules match the controller's Node
 * ABI, which is why the container runs the same Node major (see runtime.ts).
 *
 * The bundle id is a hash of everything that changes the installed app: version, lockfile, Node ABI and platform,
 * and the content of every shipped file outside node_modules. Same id = nothing to upload; a fleetmon upgrade
 * gives a new id, a new release directory, and a restart.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { FleetmonError } from '../core/errors.js';
import { packageRoot } from '../paths.js';

/** Top-level entries shipped besides node_modules (package.json "files" plus the manifest files). */
export const SHIPPED = ['package.json', 'package-lock.json', 'oclif.manifest.json', 'bin', 'dist', 'templates', 'src/server/public', 'src/protocol/probe.sh', 'src/protocol/gate.sh'];

export interface Bundle {
  id: string;
  version: string;
  root: string;
  /** Paths relative to root, as given to tar. */
  paths: string[];
}

interface LockFile {
  packages?: Record<string, { dev?: boolean; optional?: boolean }>;
}

/** node_modules/<name> directories of production dependencies, from the lockfile (pure). */
export function productionModules(lock: LockFile): string[] {
  return Object.entries(lock.packages ?? {})
    .filter(([path, meta]) => path.startsWith('node_modules/') && !meta.dev && !path.slice('node_modules/'.length).includes('node_modules/'))
    .map(([path]) => path)
    .sort();
}

function walkFiles(root: string, rel: string, out: string[]): void {
  const abs = join(root, rel);
  const st = statSync(abs);
  if (st.isDirectory()) {
    for (const name of readdirSync(abs).sort()) walkFiles(root, join(rel, name), out);
  } else if (st.isFile()) out.push(rel);
}

export function collectBundle(root = packageRoot): Bundle {
  if (!existsSync(join(root, 'dist', 'commands'))) {
    throw new FleetmonError('NOT_BUILT', `${join(root, 'dist')} is missing: the container runs the compiled app`, {
      kind: 'usage',
      suggestions: ['run `npm run build` first'],
    });
  }
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  const lockText = existsSync(join(root, 'package-lock.json')) ? readFileSync(join(root, 'package-lock.json'), 'utf8') : '{}';
  const modules = productionModules(JSON.parse(lockText) as LockFile).filter((m) => existsSync(join(root, m)));
  const shipped = SHIPPED.filter((p) => existsSync(join(root, p)));
  const hash = createHash('sha256');
  hash.update(`version ${pkg.version}\nabi ${process.versions.modules} ${process.platform}-${process.arch}\n`);
  hash.update(createHash('sha256').update(lockText).digest('hex'));
  for (const top of shipped) {
    const files: string[] = [];
    walkFiles(root, top, files);
    for (const f of files) {
      hash.update(`\n${relative(root, join(root, f))}\n`);
      hash.update(readFileSync(join(root, f)));
    }
  }
  hash.update(`\nmodules ${modules.join(' ')}`);
  return { id: hash.digest('hex').slice(0, 16), version: pkg.version, root, paths: [...shipped, ...modules] };
}

/** A gzip'd tar stream of the bundle (system tar; paths passed NUL-separated on stdin, never through a shell). */
export function bundleStream(bundle: Bundle): { stream: Readable; done: Promise<void> } {
  const child = spawn('tar', ['-czf', '-', '-C', bundle.root, '--null', '-T', '-'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.end(bundle.paths.map((p) => `${p}\0`).join(''));
  // Read tar's output from the start: when a child exits, Node resumes (and so discards) any of its output
  // streams nobody reads yet, and a small bundle is written before the SSH channel is open.
  const stream = new PassThrough();
  child.stdout.pipe(stream);
  const done = new Promise<void>((resolve, reject) => {
    child.on('error', (err) => reject(new FleetmonError('BUNDLE_FAILED', `cannot run tar: ${err.message}`)));
    child.on('close', (code) => (code === 0 ? resolve() : reject(new FleetmonError('BUNDLE_FAILED', `tar failed (${code}): ${stderr.trim()}`))));
  });
  return { stream, done };
}
