/**
 * Reads a secret (a password) from the terminal without echoing it. Prompts go to stderr so stdout stays clean
 * for --json. Where stdin is not a terminal there is nobody to ask: the caller gets a clear error instead.
 */
import { FleetmonError } from '../core/errors.js';

export function canPrompt(): boolean {
  return Boolean(process.stdin.isTTY && process.stderr.isTTY);
}

export async function promptSecret(question: string, envHint: string): Promise<string> {
  if (!canPrompt()) {
    throw new FleetmonError('NO_TERMINAL', `${question.replace(/:\s*$/, '')} is needed, but there is no terminal to ask on`, {
      kind: 'auth',
      suggestions: [`set ${envHint}, or use a key (--identity or ssh-agent)`],
    });
  }
  const stdin = process.stdin;
  process.stderr.write(question);
  return new Promise((resolve, reject) => {
    let value = '';
    const wasRaw = stdin.isRaw;
    stdin.setRawMode(true);
    stdin.resume();
    stdin.setEncoding('utf8');
    const done = (err?: Error) => {
      stdin.removeListener('data', onData);
      stdin.setRawMode(wasRaw);
      stdin.pause();
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(new FleetmonError('CANCELLED', 'cancelled', { kind: 'usage' }));
        if (ch === '\u0004' && value === '') return done(new FleetmonError('CANCELLED', 'cancelled', { kind: 'usage' }));
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else if (ch >= ' ') value += ch;
      }
    };
    stdin.on('data', onData);
  });
}

/** Asks at most once, however many callers want the answer (hosts deployed in parallel). */
export function once<T>(fn: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => (p ??= fn());
}

/** Asks a yes/no question on the terminal (stderr); only an explicit y or yes is yes. */
export async function confirm(question: string): Promise<boolean> {
  const { createInterface } = await import('node:readline/promises');
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}
