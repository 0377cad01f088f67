/**
 * Structured Proxmox failures. `proxmox-api` throws plain `Error`s whose text embeds the status; our transport
 * (transport.ts) throws these instead, so callers can branch on the HTTP status, Proxmox's message and its
 * per-parameter `errors`, and `toFleetmonError` can say what to do next.
 */
import { FleetmonError } from '../../core/errors.js';
import { PinMismatchError, TLS_UNTRUSTED } from '../../core/tls-pin.js';

/** The server answered with an HTTP error. `message` is Proxmox's text (status line or body), without the newline. */
export class ProxmoxApiError extends Error {
  readonly status: number;
  readonly method: string;
  /** Path relative to /api2/json. */
  readonly path: string;
  /** Per-parameter messages of a 400 "Parameter verification failed." */
  readonly errors?: Record<string, string>;

  constructor(opts: { status: number; message: string; method: string; path: string; errors?: Record<string, string> }) {
    super(opts.message);
    this.name = 'ProxmoxApiError';
    this.status = opts.status;
    this.method = opts.method;
    this.path = opts.path;
    this.errors = opts.errors;
  }

  /** `Permission check failed (/vms/200, VM.Allocate)` → the path and the privilege(s) the server wanted. */
  get missingPrivilege(): { path: string; privileges: string[] } | undefined {
    const m = /Permission check failed \(([^,]+), ([^)]+)\)/.exec(this.message);
    if (!m?.[1] || !m[2]) return undefined;
    return { path: m[1], privileges: m[2].split('|') };
  }
}

/** No HTTP answer: DNS, TCP, TLS, a refused pin, or a timeout. */
export class ProxmoxConnectionError extends Error {
  readonly code?: string;
  readonly method: string;
  readonly path: string;
  /**
   * False when the failure happened before the request could be written (DNS, connect, TLS): such a request is safe
   * to send again. True otherwise: a POST may have been executed even though no answer came back.
   */
  readonly mayHaveReachedServer: boolean;

  constructor(opts: { message: string; code?: string; method: string; path: string; mayHaveReachedServer: boolean; cause?: unknown }) {
    super(opts.message, { cause: opts.cause });
    this.name = 'ProxmoxConnectionError';
    this.code = opts.code;
    this.method = opts.method;
    this.path = opts.path;
    this.mayHaveReachedServer = opts.mayHaveReachedServer;
  }
}

export { PinMismatchError } from '../../core/tls-pin.js';


const PIN_HINT =
  "pin the node's public key: on the node run  openssl x509 -in /etc/pve/local/pve-ssl.pem -pubkey -noout | " +
  'openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64  and pass --fingerprint sha256//THAT';
const CA_HINT = 'or trust the cluster CA: copy /etc/pve/pve-root-ca.pem from the node and pass --ca-file';

/** Maps any failure from the Proxmox layer to a FleetmonError with an exit status and a next step. */
export function toFleetmonError(err: unknown, doing?: string): FleetmonError {
  if (err instanceof FleetmonError) return err;
  const prefix = doing ? `${doing}: ` : '';
  if (err instanceof ProxmoxApiError) return apiErrorToFleetmon(err, prefix);
  if (err instanceof ProxmoxConnectionError) {
    const cause = err.cause;
    if (cause instanceof PinMismatchError) {
      return new FleetmonError('PVE_TLS_PIN_MISMATCH', `${prefix}${cause.message}; refusing to send the API token`, {
        kind: 'auth',
        suggestions: [
          'if the node got a new key on purpose, check its fingerprint on the node and update --fingerprint',
          'otherwise something between you and the node is intercepting the connection',
        ],
        cause: err,
      });
    }
    if (err.code && TLS_UNTRUSTED.has(err.code)) {
      return new FleetmonError('PVE_TLS_UNTRUSTED', `${prefix}the Proxmox server's certificate is not trusted (${err.code})`, {
        kind: 'auth',
        suggestions: [PIN_HINT, CA_HINT],
        cause: err,
      });
    }
    return new FleetmonError('PVE_UNREACHABLE', `${prefix}${err.message}`, {
      kind: 'proxmox',
      suggestions: ['check --proxmox (https://HOST:8006) and that this machine can reach the node'],
      cause: err,
    });
  }
  return new FleetmonError('PVE_ERROR', `${prefix}${err instanceof Error ? err.message : String(err)}`, { kind: 'proxmox', cause: err });
}

function apiErrorToFleetmon(err: ProxmoxApiError, prefix: string): FleetmonError {
  const where = `${err.method} ${err.path}`;
  if (err.status === 401) {
    return new FleetmonError('PVE_AUTH_FAILED', `${prefix}Proxmox refused the API token: ${err.message}`, {
      kind: 'auth',
      suggestions: [
        "pass --token 'USER@REALM!TOKENID=SECRET' (or FLEETMON_PVE_TOKEN) exactly as Proxmox showed it when the token was created",
        'check that the user and the token exist and are enabled (Datacenter → Permissions → API Tokens)',
      ],
      cause: err,
    });
  }
  if (err.status === 403) {
    const missing = err.missingPrivilege;
    if (missing) {
      return new FleetmonError(
        'PVE_PERMISSION_DENIED',
        `${prefix}the API token lacks ${missing.privileges.join(' or ')} on ${missing.path} (${where})`,
        { kind: 'auth', suggestions: [grantHint(missing.path, missing.privileges)], cause: err },
      );
    }
    return new FleetmonError('PVE_PERMISSION_DENIED', `${prefix}Proxmox refused ${where}: ${err.message}`, { kind: 'auth', cause: err });
  }
  if (err.status === 400 && err.errors) {
    const detail = Object.entries(err.errors)
      .map(([k, v]) => `${k}: ${v.trim().replace(/\n/g, '; ')}`)
      .join(', ');
    return new FleetmonError('PVE_BAD_REQUEST', `${prefix}Proxmox rejected ${where}: ${detail}`, { kind: 'proxmox', cause: err });
  }
  if (err.status === 595 || err.status === 596) {
    return new FleetmonError('PVE_NODE_UNREACHABLE', `${prefix}the cluster could not reach the node for ${where}: ${err.message}`, {
      kind: 'proxmox',
      suggestions: ['check that the node is online in the Proxmox web UI'],
      cause: err,
    });
  }
  return new FleetmonError('PVE_API_ERROR', `${prefix}${where} failed with ${err.status}: ${err.message}`, { kind: 'proxmox', cause: err });
}

/** A `pveum` command line that would grant the privileges (the admin picks or makes a role that holds them). */
export function grantHint(path: string, privileges: string[]): string {
  return `grant ${privileges.join(', ')} on ${path} to both the token and its user (privilege-separated tokens get the intersection), e.g. ` +
    `pveum acl modify ${path} --tokens 'USER@REALM!TOKEN' --roles ROLE_WITH_THOSE_PRIVILEGES`;
}

/**
 * A request that changes something is sent exactly once: if it fails without an answer it may still have been
 * executed, so we stop and let a re-run look at what is there (every step checks before it acts).
 */
export async function callOnce<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const fe = toFleetmonError(err, what);
    if ((err as { mayHaveReachedServer?: boolean }).mayHaveReachedServer) {
      fe.suggestions.unshift('the request may have reached Proxmox; run the same command again: it finds what was done and continues');
    }
    throw fe;
  }
}
