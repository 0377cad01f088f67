/**
 * Coded errors. Every failure a user can hit carries a stable code, an exit status from one table and the next
 * step to take; the CLI base command turns it into a one-line message instead of a stack trace.
 */
export const EXIT = {
  usage: 2,
  config: 3,
  server: 4,
  proxmox: 5,
  ssh: 6,
  timeout: 7,
  conflict: 8,
  auth: 9,
  notFound: 10,
} as const;
export type ExitKind = keyof typeof EXIT;

export class FleetmonError extends Error {
  readonly code: string;
  readonly exit: number;
  readonly suggestions: string[];
  constructor(code: string, message: string, opts: { kind?: ExitKind; suggestions?: string[]; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'FleetmonError';
    this.code = code;
    this.exit = EXIT[opts.kind ?? 'usage'];
    this.suggestions = opts.suggestions ?? [];
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
