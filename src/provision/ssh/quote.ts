/**
 * POSIX shell quoting for commands sent over SSH. sshd hands the command string to the login shell, which may be
 * dash (`/bin/sh`), bash or zsh, so only POSIX single quotes are used: zx's `quote` emits bash's `$'…'` form, which
 * dash passes through literally. Every argv element is quoted; NUL cannot travel in a command line at all.
 */
export function shQuote(arg: string): string {
  if (arg.includes('\0')) throw new Error('a shell argument cannot contain a NUL byte');
  if (/^[A-Za-z0-9_/.,:=@%+-]+$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** Joins an argv array into one command line where each element arrives as exactly one word. */
export function shJoin(argv: readonly string[]): string {
  if (argv.length === 0) throw new Error('empty command');
  return argv.map(shQuote).join(' ');
}
