/**
 * The one error hierarchy of Strata. Every failure that reaches a user is a
 * StrataError with a stable code; the API maps codes to HTTP statuses and the
 * CLI maps them to exit statuses. Messages name the thing and the fix.
 */

export type ErrorCode =
  | 'not_found'
  | 'already_exists'
  | 'invalid_argument'
  | 'conflict'
  | 'failed_precondition'
  | 'unavailable'
  | 'not_supported'
  | 'internal';

export class StrataError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
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

export const httpStatusOf: Record<ErrorCode, number> = {
  not_found: 404,
  already_exists: 409,
  invalid_argument: 400,
  conflict: 409,
  failed_precondition: 412,
  unavailable: 503,
  not_supported: 501,
  internal: 500,
};

/** CLI exit statuses, stable so that scripts can branch on them. */
export const exitStatusOf: Record<ErrorCode, number> = {
  internal: 1,
  invalid_argument: 2,
  not_found: 3,
  already_exists: 4,
  conflict: 5,
  failed_precondition: 6,
  unavailable: 7,
  not_supported: 8,
};

const byCode: Record<ErrorCode, new (m: string, o?: { cause?: unknown }) => StrataError> = {
  not_found: NotFound,
  already_exists: AlreadyExists,
  invalid_argument: InvalidArgument,
  conflict: Conflict,
  failed_precondition: FailedPrecondition,
  unavailable: Unavailable,
  not_supported: NotSupported,
  internal: Internal,
};

/** Rebuilds a typed error from the API's `{code, message}` body. */
export function errorFromWire(code: string, message: string): StrataError {
  const ctor = byCode[code as ErrorCode] ?? Internal;
  return new ctor(message);
}

/** Any thrown value as a StrataError (unknown failures become Internal). */
export function asStrataError(err: unknown): StrataError {
  if (err instanceof StrataError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new Internal(message, { cause: err });
}
