// Bearer-token authentication for mutating control API calls. The token is
// read once from a file that only the agent's user may read; without one,
// mutations are refused (secure by default) with a message saying how to
// enable them. Comparison is constant-time.

import { readFileSync, statSync } from "node:fs";
import { timingSafeEqual } from "node:crypto";

export interface MutationAuth {
  /** undefined when the request may proceed, else [status, message]. */
  check(authorization: string | null): [number, string] | undefined;
  readonly configured: boolean;
}

export function loadMutationAuth(tokenFile: string): { auth: MutationAuth; problem?: string } {
  let token: Buffer | undefined;
  let problem: string | undefined;
  try {
    const mode = statSync(tokenFile).mode & 0o777;
    if ((mode & 0o077) !== 0) problem = `${tokenFile} is readable by group or others (mode ${mode.toString(8)}); run chmod 600`;
    else {
      const text = readFileSync(tokenFile, "utf8").trim();
      if (text.length < 16) problem = `${tokenFile} holds fewer than 16 characters; use a long random token`;
      else token = Buffer.from(text);
    }
  } catch {
    problem = `no API token file at ${tokenFile}`;
  }
  const auth: MutationAuth = {
    configured: token !== undefined,
    check(authorization) {
      if (!token) return [403, `mutating API calls are disabled: ${problem}`];
      const presented = authorization?.startsWith("Bearer ") ? Buffer.from(authorization.slice(7).trim()) : undefined;
      if (!presented) return [401, "missing bearer token (Authorization: Bearer <token>)"];
      if (presented.length !== token.length || !timingSafeEqual(presented, token)) return [401, "wrong bearer token"];
      return undefined;
    },
  };
  return { auth, problem };
}
