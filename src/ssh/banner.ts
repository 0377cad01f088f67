/**
 * "Does SSH answer yet?": connect and read the server's identification line (`SSH-2.0-…`, RFC 4253 §4.2). A bare TCP
 * accept is not enough: a port forwarder or a half-started container can accept and then drop the connection.
 */
import { connect } from 'node:net';

export type SshProbe = (host: string, port: number, timeoutMs: number) => Promise<boolean>;

export const probeSshBanner: SshProbe = (host, port, timeoutMs) =>
  new Promise((resolve) => {
    let buf = '';
    let settled = false;
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      buf += chunk;
      // Servers may send other lines before the identification string; it is the first one starting with SSH-.
      const lines = buf.split('\n');
      if (lines.slice(0, -1).some((l) => l.startsWith('SSH-'))) done(true);
      else if (buf.length > 8192) done(false);
    });
    socket.on('error', () => done(false));
    socket.on('close', () => done(buf.split('\n').some((l) => l.startsWith('SSH-'))));
  });
