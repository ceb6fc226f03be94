/** The API's edge of the error hierarchy: each code's HTTP status (docs/errors.md). */
import type { ErrorCode } from '../errors/index.js';

export const httpStatusOf: Readonly<Record<ErrorCode, number>> = {
  not_found: 404,
  already_exists: 409,
  invalid_argument: 400,
  conflict: 409,
  failed_precondition: 412,
  unavailable: 503,
  not_supported: 501,
  internal: 500,
  // 499: the client closed the request (nginx's status; nobody reads it but logs).
  cancelled: 499,
  resource_exhausted: 429,
  permission_denied: 403,
  unauthenticated: 401,
};
