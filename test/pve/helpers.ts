/** Shared test helpers for the Proxmox tests: a fake clock, a real OpenSSH public key, a client for a simulator. */
import { generateKeyPairSync } from 'node:crypto';
import { connectPve, type PveClient } from '../../src/lxc/proxmox/client.js';
import { resolveLxcSpec, type LxcSpec, type LxcSpecInput } from '../../src/lxc/spec.js';
import type { Clock } from '../../src/lxc/proxmox/wait.js';
import { TEST_TOKEN, tokenHeaderValue, type PveSimulator, type SimToken } from './simulator.js';

/** Time moves only when someone sleeps, so minutes-long deadlines pass in milliseconds. */
export function fakeClock(): Clock & { elapsed(): number } {
  let t = 0;
  return {
    now: () => t,
    sleep: async (ms) => {
      t += ms;
      // Let a little real time pass too (a millisecond per fake second, at most 5 ms): the simulator's tasks run on real
      // timers, and a loaded machine must not let minutes of fake time go by before a 15 ms task can finish.
      await new Promise((r) => setTimeout(r, Math.min(5, Math.ceil(ms / 1000))));
    },
    elapsed: () => t,
  };
}

/** `ssh-ed25519 AAAA… comment`, built from a fresh key so the wire format is real. */
export function sshPublicKey(comment = 'fleetmon-test'): string {
  const { publicKey } = generateKeyPairSync('ed25519');
  const raw = publicKey.export({ type: 'spki', format: 'der' }).subarray(-32);
  const str = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
  const blob = Buffer.concat([str(Buffer.from('ssh-ed25519')), str(raw)]);
  return `ssh-ed25519 ${blob.toString('base64')} ${comment}`;
}

export const TEST_KEY = sshPublicKey();

export function specInput(overrides: Partial<LxcSpecInput> = {}): LxcSpecInput {
  return {
    hostname: 'fleetmon', cores: 1, memory: 1024, swap: 512, disk: 8, storage: 'local-lvm', templateStorage: 'local',
    bridge: 'vmbr0', unprivileged: true, onboot: true, tags: 'fleetmon', force: false, sshPort: 22, sshPublicKey: '/keys/id.pub',
    ...overrides,
  };
}

export function testSpec(overrides: Partial<LxcSpecInput> = {}): LxcSpec {
  return resolveLxcSpec(specInput(overrides), { readFile: () => `${TEST_KEY}\n` });
}

export function clientFor(sim: PveSimulator, opts: { token?: SimToken | string; pin?: string } = {}): PveClient {
  const token = typeof opts.token === 'string' ? opts.token : tokenHeaderValue(opts.token ?? TEST_TOKEN);
  return connectPve({ url: sim.url, token, fingerprint: opts.pin ?? `sha256//${sim.fingerprint.spki}` });
}
