// Go programs the tests run (the memberlist interop peer, the Traefik-like
// HTTP client): built once per source version with the Go toolchain on this
// machine and kept in the temporary directory under a name that carries the
// hash of their sources, so a changed source builds again and an unchanged
// one is reused across test files and runs.

import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface GoTool {
  path?: string;
  /** Why the tool cannot be had (Go missing, sources missing, build failed). */
  missing?: string;
}

/** Where built tools (and the Go caches of GOPATH-mode builds) live. */
export const goToolDir = join(tmpdir(), "constellation-test-tools");

/**
 * The binary of tool `name` built from `sources` (hashed to name it), or why
 * not. `build` writes the binary to the path it is given and returns the
 * build's exit code and stderr; `installHint` says what to install when `go`
 * is missing.
 */
export function cachedGoTool(
  name: string,
  sources: readonly string[],
  installHint: string,
  build: (outPath: string) => { exitCode: number; stderr: Buffer | Uint8Array },
): GoTool {
  const absent = sources.find((source) => !existsSync(source));
  if (absent !== undefined) return { missing: `${name} source not found at ${absent}` };
  if (Bun.spawnSync(["sh", "-c", "command -v go"]).exitCode !== 0) return { missing: `go is not installed (${installHint})` };
  const hash = createHash("sha256");
  for (const source of sources) hash.update(readFileSync(source));
  mkdirSync(goToolDir, { recursive: true });
  const path = join(goToolDir, `${name}-${hash.digest("hex").slice(0, 16)}`);
  if (!existsSync(path)) {
    const result = build(`${path}.tmp`);
    if (result.exitCode !== 0) {
      return { missing: `${name} build failed: ${Buffer.from(result.stderr).toString().trim().split("\n").slice(-3).join(" | ")}` };
    }
    Bun.spawnSync(["mv", `${path}.tmp`, path]);
  }
  return { path };
}
