/**
 * The stage `fleetmon up` and `fleetmon apply` are tested on end to end: an admin key, a real Debian 12 LXC container
 * that key reaches (booted with systemd on the test bridge), a fleet host (a real sshd on the bridge address, this
 * machine) that lets in root and the monitor's service account, the Proxmox simulator that reports the container's
 * address, and a fresh build of this checkout (provision installs dist/). Where LXC cannot run, `unavailable` says why.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/paths.js';
import { startPveSimulator, type PveSimulator } from '../pve/simulator.js';
import { generateKey, makeTestDir, removeDir, startSshd, type TestSshd } from './sshd.js';
import { BRIDGE_ADDRESS, LxcUnavailable, removeBridge, startContainer, type TestContainer } from './lxc-container.js';
import { removeServiceAccount } from './accounts.js';

export interface LxcStageOptions {
  /** Names the test directory and the admin key's comment. */
  tag: string;
  /** The LXC container's name and its index on the bridge (each test file its own). */
  container: string;
  index: number;
  /** The monitor's service account on the fleet host, and where keys deploy puts its gate. */
  account: string;
  libDir: string;
}

export class LxcStage {
  dir = '';
  ct: TestContainer | undefined;
  sim!: PveSimulator;
  fleetHost!: TestSshd;
  /** Set when LXC cannot run here: the tests skip with it. */
  unavailable: string | undefined;

  constructor(private readonly opts: LxcStageOptions) {}

  get adminKey(): string {
    return join(this.dir, 'admin_key');
  }

  get adminPublicKey(): string {
    return join(this.dir, 'admin_key.pub');
  }

  async start(): Promise<void> {
    this.removeAccount();
    this.dir = makeTestDir(this.opts.tag);
    const admin = generateKey(this.adminKey, `admin@${this.opts.tag}`);
    writeFileSync(this.adminPublicKey, `${admin.publicKey}\n`);
    try {
      this.ct = await startContainer(this.opts.container, this.opts.index, admin.publicKey);
    } catch (err) {
      if (!(err instanceof LxcUnavailable)) throw err;
      this.unavailable = err.message;
      return;
    }
    this.fleetHost = await startSshd({ address: BRIDGE_ADDRESS, dir: this.dir, rootAuthorizedKeys: admin.publicKey, allowUsers: ['root', this.opts.account] });
    this.sim = await startPveSimulator({ authFailDelayMs: 20, taskDurationMs: 20, addressDelayMs: 100, dhcpAddress: this.ct.address });
    const build = spawnSync('npm', ['run', 'build'], { cwd: packageRoot, encoding: 'utf8' });
    assert.equal(build.status, 0, `npm run build failed:\n${build.stdout}${build.stderr}`);
  }

  async stop(): Promise<void> {
    await this.sim?.close();
    await this.fleetHost?.stop();
    this.ct?.destroy();
    removeBridge();
    this.removeAccount();
    if (this.dir) removeDir(this.dir);
  }

  /** The service account and its gate, from this run or an earlier one that did not clean up. */
  private removeAccount(): void {
    removeServiceAccount(this.opts.account, this.opts.libDir);
  }
}
