/**
 * An in-process SSH server (ssh2's Server) on 127.0.0.1 and a free port, for tests of the SSH layer that need no
 * real sshd (so no root and no shared lock): one ed25519 host key, one accepted user key, one accepted password.
 * `exec` answers every command with `ran: COMMAND` on stdout and exit status 0, or, for `exit N`, status N.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import ssh2 from 'ssh2';

export interface KeyFiles {
  privateKey: string;
  /** The blob of the public key. */
  blob: Buffer;
  /** The .pub line. */
  publicLine: string;
  /** What `ssh-keygen -lf` prints for it. */
  fingerprint: string;
}

export function keygen(dir: string, name: string): KeyFiles {
  const path = join(dir, name);
  const made = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', path], { encoding: 'utf8' });
  if (made.status !== 0) throw new Error(`ssh-keygen failed: ${made.stderr}`);
  const listed = spawnSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${path}.pub`], { encoding: 'utf8' });
  const publicLine = readFileSync(`${path}.pub`, 'utf8').trim();
  return { privateKey: readFileSync(path, 'utf8'), blob: Buffer.from(publicLine.split(' ')[1]!, 'base64'), publicLine, fingerprint: listed.stdout.split(' ')[1]! };
}

export interface TestSsh2Server {
  port: number;
  close(): Promise<void>;
}

export async function startSsh2Server(opts: { hostKey: KeyFiles; userKey: KeyFiles; password: string }): Promise<TestSsh2Server> {
  const userKey = ssh2.utils.parseKey(opts.userKey.publicLine);
  if (userKey instanceof Error) throw userKey;
  const server = new ssh2.Server({ hostKeys: [opts.hostKey.privateKey] }, (client) => {
    client.on('error', () => {});
    client.on('authentication', (ctx) => {
      if (ctx.method === 'publickey' && ctx.key.data.equals(opts.userKey.blob)) {
        if (!ctx.signature || userKey.verify(ctx.blob!, ctx.signature, ctx.hashAlgo)) return ctx.accept();
      }
      if (ctx.method === 'password' && ctx.password === opts.password) return ctx.accept();
      if (ctx.method === 'keyboard-interactive') {
        return ctx.prompt([{ prompt: 'Password: ', echo: false }], (answers) => (answers[0] === opts.password ? ctx.accept() : ctx.reject()));
      }
      ctx.reject(['publickey', 'password', 'keyboard-interactive']);
    });
    client.on('ready', () => {
      client.on('session', (accept) => {
        accept().on('exec', (acceptExec, _reject, info) => {
          const stream = acceptExec();
          const m = /^exit (\d+)$/.exec(info.command);
          if (!m) stream.write(`ran: ${info.command}\n`);
          stream.exit(m ? Number(m[1]) : 0);
          stream.end();
        });
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
