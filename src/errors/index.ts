/**
 * The one error hierarchy of Strata. Every failure that reaches a user is a
 * StrataError with a stable code; the API maps codes to HTTP statuses
 * (api/errors.ts) and the CLI to exit statuses (cli/exit.ts), at the edges.
 * Messages name the thing and the fix.
 */

export type ErrorCode =
  | 'not_found'
  | 'already_exists'
  | 'invalid_argument'
  | 'conflict'
  | 'failed_precondition'
  | 'unavailable'
  | 'not_supported'
  | 'internal'
  | 'cancelled'
  | 'resource_exhausted'
  | 'permission_denied'
  | 'unauthenticated';

/** Every code, in the order of the CLI's exit statuses. */
export const ERROR_CODES: readonly ErrorCode[] = [
  'internal', 'invalid_argument', 'not_found', 'already_exists', 'conflict', 'failed_precondition', 'unavailable', 'not_supported',
  'cancelled', 'resource_exhausted', 'permission_denied', 'unauthenticated',
];

/** Marks a StrataError made by any copy of this module (the CLI's bundle runs the daemon's own copy). */
const BRAND = Symbol.for('strata.error');

export class StrataError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
    Object.defineProperty(this, BRAND, { value: true });
  }
}

export class NotFound extends StrataError {
  constructor(message: string, options?: { cause?: unknown }) { super('not_found', message, options); }
}
export class AlreadyExists extends StrataError {
  constructor(message: string, options?: { cause?: unknown }) { super('already_exists', message, options); }
}
export class InvalidArgument extends StrataError {
  constructor(message: string, options?: { cause?: unknown }) { super('invalid_argument', message, options); }
}
export class Conflict extends StrataError {
  constructor(message: string, options?: { cause?: unknown }) { super('conflict', message, options); }
}
export class FailedPrecondition extends StrataError {
  constructor(message: string, options?: { cause?: unknown }) { super('failed_precondition', message, options); }
}
export class Unavailable extends StrataError {
  constructor(message: string, options?: { cause?: unknown }) { super('unavailable', message, options); }
}
export class NotSupported extends StrataError {
  constructor(message: string, options?: { cause?: unknown }) { super('not_supported', message, options); }
}
export class Internal extends StrataError {
  constructor(message: string, options?: { cause?: unknown }) { super('internal', message, options); }
}

/** The caller gave up (its connection closed, it sent an abort): the work stopped and was rolled back. */
export class Cancelled extends StrataError {
  constructor(message: string, options?: { cause?: unknown }) { super('cancelled', message, options); }
}
/** A quota or a finite resource (disk, addresses, ids, a plan's allowance) has no room left. */
export class ResourceExhausted extends StrataError {
  constructor(message: string, options?: { cause?: unknown }) { super('resource_exhausted', message, options); }
}
/** The caller may not do this (a token's scope, a tenant's role, a file the daemon may not read). */
export class PermissionDenied extends StrataError {
  constructor(message: string, options?: { cause?: unknown }) { super('permission_denied', message, options); }
}

/** The caller did not say who it is, or its credentials are not valid (no token, a wrong or expired one). */
export class Unauthenticated extends StrataError {
  constructor(message: string, options?: { cause?: unknown }) { super('unauthenticated', message, options); }
}

/** A failed external tool (runc, mount, debootstrap…): command, exit status and its own words. */
export class ToolError extends Internal {
  readonly command: string[];
  readonly exitStatus: number | null;
  readonly stderr: string;
  constructor(command: string[], exitStatus: number | null, stderr: string, context?: string) {
    const said = stderr.trim().split('\n').filter(Boolean).slice(-3).join(' / ');
    const what = context ? `${context}: ` : '';
    super(`${what}${command[0]} exited with status ${exitStatus ?? 'signal'}${said ? `: ${said}` : ''}`);
    this.command = command;
    this.exitStatus = exitStatus;
    this.stderr = stderr;
  }
}

/** A host change that strata-hostd (the daemon's resident native helper) was asked for and could not make. */
export class HostOpError extends Internal {
  readonly operation: string;
  /** The helper's status for the request (1: it failed; 2: MOUNTED cannot tell on this kernel; other: strata-idmount's). */
  readonly status: number;
  readonly detail: string;
  constructor(operation: string, status: number, detail: string, context?: string) {
    const said = detail.trim().split('\n').filter(Boolean).slice(-3).join(' / ');
    super(`${context ? `${context}: ` : ''}${said || `${operation} failed with status ${status}`}`);
    this.operation = operation;
    this.status = status;
    this.detail = detail;
  }
}

const byCode: Record<ErrorCode, new (m: string, o?: { cause?: unknown }) => StrataError> = {
  not_found: NotFound,
  already_exists: AlreadyExists,
  invalid_argument: InvalidArgument,
  conflict: Conflict,
  failed_precondition: FailedPrecondition,
  unavailable: Unavailable,
  not_supported: NotSupported,
  internal: Internal,
  cancelled: Cancelled,
  resource_exhausted: ResourceExhausted,
  permission_denied: PermissionDenied,
  unauthenticated: Unauthenticated,
};

/** Rebuilds a typed error from the API's `{code, message}` body. */
export function errorFromWire(code: string, message: string): StrataError {
  const ctor = byCode[code as ErrorCode] ?? Internal;
  return new ctor(message);
}

/** Any thrown value as a StrataError (unknown failures become Internal). */
export function asStrataError(err: unknown): StrataError {
  if (err instanceof StrataError) return err;
  // One from another copy of this module: `strata daemon` in the bundled CLI loads the daemon from dist/.
  if (err instanceof Error && (err as unknown as Record<symbol, unknown>)[BRAND] === true) return err as StrataError;
  // An AbortSignal's reason (AbortSignal.throwIfAborted, aborted fetches and streams).
  if (err instanceof Error && err.name === 'AbortError') return new Cancelled(`cancelled: ${err.message}`, { cause: err });
  const message = err instanceof Error ? err.message : String(err);
  return new Internal(message, { cause: err });
}
