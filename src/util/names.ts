/** Validation of the names users give to containers, templates and networks. */
import { InvalidArgument } from '../errors/index.js';

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export function isValidName(name: string): boolean {
  return DNS_LABEL.test(name);
}

/** Throws InvalidArgument unless `name` is a DNS label (1–63 chars of a–z, 0–9, '-', no '-' at the ends). */
export function validateName(kind: string, name: unknown): string {
  if (typeof name !== 'string' || !isValidName(name)) {
    throw new InvalidArgument(
      `invalid ${kind} name ${JSON.stringify(name)}: use 1-63 characters of a-z, 0-9 and '-', not starting or ending with '-'`,
    );
  }
  return name;
}
