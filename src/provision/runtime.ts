/**
 * How the container gets a Node.js ≥ 20 (Debian 12 ships 18).
 *
 * Preferred: copy this controller's own `node` binary, when it can run there unchanged: same OS and CPU
 * architecture, a build without shared system libraries (official and NodeSource builds link only glibc and
 * libstdc++; Debian's own links libnode, libuv, OpenSSL…), and a container glibc at least as new as the one it was
 * built against. This works offline, and the app's native modules (better-sqlite3) were built for exactly this
 * runtime, so the bundle's node_modules can be copied as they are.
 *
 * Otherwise: install the same major version from NodeSource's apt repository (same major = same native-module ABI),
 * with the repository key shipped in templates/ (fingerprint pinned below) instead of downloaded.
 */

/** NodeSource's repository signing key ("NSolid <nsolid-gpg@nodesource.com>"), shipped as templates/nodesource-repo.asc. */
export const NODESOURCE_KEY_FINGERPRINT = '6F71F525282841EEDAF851B42F59B5F99B1BE0B4';

export const MIN_NODE_MAJOR = 20;

/** What the controller knows about its own runtime (process.* values, injectable for tests). */
export interface ControllerRuntime {
  version: string; // process.version, e.g. 'v20.20.2'
  platform: string; // process.platform
  arch: string; // process.arch
  execPath: string;
  /** process.config.variables.node_shared* — any true means the binary needs system libraries. */
  sharedLibraries: string[];
  /** glibc the binary was built against (process.report header), null when not glibc. */
  glibcCompiled: string | null;
}

export function currentControllerRuntime(): ControllerRuntime {
  const vars = (process.config as { variables?: Record<string, unknown> }).variables ?? {};
  const header = (process.report?.getReport() as { header?: { glibcVersionCompiler?: string } } | undefined)?.header;
  return {
    version: process.version,
    platform: process.platform,
    arch: process.arch,
    execPath: process.execPath,
    sharedLibraries: Object.entries(vars)
      .filter(([k, v]) => k.startsWith('node_shared') && (v === true || v === 'true'))
      .map(([k]) => k),
    glibcCompiled: header?.glibcVersionCompiler ?? null,
  };
}

/** Debian/uname machine names for node's process.arch values. */
const UNAME_ARCH: Record<string, string[]> = { x64: ['x86_64'], arm64: ['aarch64', 'arm64'], arm: ['armv7l', 'armv6l'] };

export function nodeMajor(version: string): number {
  const m = /^v?(\d+)\./.exec(version);
  return m ? Number(m[1]) : NaN;
}

function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export type RuntimeChoice =
  | { method: 'upload'; version: string; reason: string }
  | { method: 'nodesource'; major: number; reason: string };

/**
 * Pure: decides between copying the controller's runtime and NodeSource, given the target's `uname -m` and glibc.
 * `prefer` forces a method (--node-source); 'upload' is still refused when it cannot work.
 */
export function chooseRuntime(
  controller: ControllerRuntime,
  target: { machine: string; glibc: string | null },
  prefer: 'auto' | 'upload' | 'nodesource' = 'auto',
): RuntimeChoice {
  const major = nodeMajor(controller.version);
  const nsMajor = Number.isFinite(major) && major >= MIN_NODE_MAJOR ? major : MIN_NODE_MAJOR;
  const refusal = (() => {
    if (controller.platform !== 'linux') return `the controller runs on ${controller.platform}, the container on Linux`;
    if (!(UNAME_ARCH[controller.arch] ?? []).includes(target.machine)) {
      return `the controller is ${controller.arch}, the container ${target.machine}`;
    }
    if (!(major >= MIN_NODE_MAJOR)) return `the controller's Node.js ${controller.version} is older than ${MIN_NODE_MAJOR}`;
    if (controller.sharedLibraries.length > 0) {
      return `this Node.js is linked against system libraries (${controller.sharedLibraries.join(', ')})`;
    }
    if (!controller.glibcCompiled) return 'this Node.js is not a glibc build';
    if (!target.glibc) return 'the container has no glibc';
    if (compareVersions(target.glibc, controller.glibcCompiled) < 0) {
      return `the container's glibc ${target.glibc} is older than the ${controller.glibcCompiled} this Node.js needs`;
    }
    return null;
  })();
  if (prefer === 'nodesource') return { method: 'nodesource', major: nsMajor, reason: 'requested' };
  if (refusal === null) {
    return { method: 'upload', version: controller.version, reason: `copy this controller's Node.js ${controller.version} (works offline)` };
  }
  if (prefer === 'upload') return { method: 'upload', version: controller.version, reason: `forced, although ${refusal}` };
  return { method: 'nodesource', major: nsMajor, reason: `${refusal}: install Node.js ${nsMajor}.x from NodeSource` };
}
