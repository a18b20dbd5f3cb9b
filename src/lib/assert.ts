// Assertions that stay on in production. A failed assertion is a programmer
// error: the process state can no longer be trusted, so we throw loudly
// rather than limp on. Operating errors (network, Docker, Cloudflare) are
// values and must never be reported through these functions.

export class AssertionError extends Error {
  override name = "AssertionError";
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError(message);
}

export function assertInteger(value: number, name: string): void {
  if (!Number.isSafeInteger(value)) throw new AssertionError(`${name} must be a safe integer, got ${value}`);
}

export function assertRange(value: number, min: number, max: number, name: string): void {
  if (!(value >= min && value <= max)) {
    throw new AssertionError(`${name} must be within [${min}, ${max}], got ${value}`);
  }
}

/** For the default branch of a switch over a closed union. */
export function assertNever(value: never, what = "value"): never {
  throw new AssertionError(`unexpected ${what}: ${JSON.stringify(value)}`);
}
