/** The CLI's edge of the error hierarchy: each code's exit status, stable so that scripts can branch on them (docs/errors.md). */
import type { ErrorCode } from '../errors/index.js';

export const exitStatusOf: Readonly<Record<ErrorCode, number>> = {
  internal: 1,
  invalid_argument: 2,
  not_found: 3,
  already_exists: 4,
  conflict: 5,
  failed_precondition: 6,
  unavailable: 7,
  not_supported: 8,
  cancelled: 9,
  resource_exhausted: 10,
  permission_denied: 11,
  unauthenticated: 12,
};
