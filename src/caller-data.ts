/**
 * Reading what callers pass in. A caller's value may be a Proxy, an object with getters, or a
 * revoked Proxy (which throws even in Array.isArray): reading it must end in a typed error that
 * names what was being read, never in the caller's own exception escaping from the library.
 */
import { InvalidInputError, describe } from './errors.js';

type ErrorClass = new (message: string, options?: { cause?: unknown }) => Error;

/** Runs `get`; whatever it throws becomes an `As` (InvalidInputError unless said) naming `what`. */
export function read<T>(what: string, get: () => T, As: ErrorClass = InvalidInputError): T {
  try {
    return get();
  } catch (error) {
    throw new As(`${what} could not be read: ${describe(error)}`, { cause: error });
  }
}

/** Array.isArray, or undefined for a value that throws when asked (a revoked Proxy). */
export function isArray(value: unknown): boolean | undefined {
  try {
    return Array.isArray(value);
  } catch {
    return undefined;
  }
}

// The brand check of a real AbortSignal: `instanceof` also accepts any object made from
// AbortSignal.prototype (whose `aborted` then throws), and throws itself for some Proxies.
const abortedGetter = Object.getOwnPropertyDescriptor(AbortSignal.prototype, 'aborted')!.get!;

/** Whether `value` is a real AbortSignal. Never throws. */
export function isAbortSignal(value: unknown): value is AbortSignal {
  try {
    abortedGetter.call(value);
    return true;
  } catch {
    return false;
  }
}
