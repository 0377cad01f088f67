/**
 * The one POSIX sh quoter. Every remote command (sshd hands it to the login shell: dash, bash or zsh) and every
 * command the collector sends is built from an argv array with it, never by concatenating user data. Only POSIX
 * single quotes are used: zx's `quote` emits bash's `$'…'` form, which dash passes through literally. NUL cannot
 * travel in a command line at all, so it is refused rather than silently cut.
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
