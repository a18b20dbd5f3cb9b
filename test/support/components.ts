// Real components that some tests need (the Go memberlist peer, dockerd, ...).
// When one is missing, the test skips with a one-line reason; under CI=true a
// missing component fails the test instead, because CI installs everything.

import { test } from "bun:test";

export const inCi = process.env.CI === "true";

/**
 * `test` when the component is available, else a skipped test that says why
 * (or, in CI, a failing one).
 */
export function testWith(missingReason: string | undefined) {
  if (missingReason === undefined) return test;
  if (inCi) {
    return (name: string, ..._rest: unknown[]) =>
      test(name, () => {
        throw new Error(`required component missing in CI: ${missingReason}`);
      });
  }
  return (name: string, ..._rest: unknown[]) => test.skip(`${name} (skipped: ${missingReason})`, () => {});
}
