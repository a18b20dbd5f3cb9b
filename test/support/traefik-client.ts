// The Go client that fetches like Traefik's HTTP provider (Go's default
// transport, so its own Accept-Encoding and transparent gzip decoding), with
// the bytes on the TCP connection counted: built once from
// test/support/traefik-client/main.go with the Go toolchain alone (standard
// library, no module download), cached by the source's hash, and run once
// per fetch, printing one JSON line.

import { join } from "node:path";
import { cachedGoTool, goToolDir, type GoTool } from "./go-tool.ts";

const sourceDir = join(import.meta.dir, "traefik-client");

/** What the Go client reports about one GET. */
export interface TraefikClientResult {
  status: number;
  /** Bytes read from the TCP connection: status line, headers and body as sent. */
  wire_bytes_read: number;
  /** Bytes written to the TCP connection: the request. */
  wire_bytes_written: number;
  /** Length of the body as the provider hands it on (decoded). */
  body_bytes: number;
  /** True when the transport asked for gzip itself and decoded the answer. */
  uncompressed: boolean;
  /** res.ContentLength: -1 when unknown, which Go sets after decoding gzip. */
  content_length: number;
  /** Hex sha256 of the decoded body. */
  body_sha256: string;
  /** Whether the decoded body parses as JSON. */
  json_ok: boolean;
}

let built: GoTool | undefined;

/** Path of the traefik-client binary, building it if needed, or the reason it cannot be had. */
export function traefikClientBinary(): GoTool {
  // GOPATH mode with no go.mod: only the standard library is imported, so
  // nothing is fetched; GOPROXY=off makes an accidental fetch fail at once.
  built ??= cachedGoTool("traefik-client", [join(sourceDir, "main.go")], "apt-get install golang-go", (out) =>
    Bun.spawnSync(["go", "build", "-trimpath", "-o", out, "main.go"], {
      cwd: sourceDir,
      env: {
        ...process.env,
        GO111MODULE: "off",
        GOPATH: join(goToolDir, "gopath"),
        GOCACHE: join(goToolDir, "gocache"),
        GOPROXY: "off",
        GOFLAGS: "",
      },
      stderr: "pipe",
      stdout: "pipe",
    }),
  );
  return built;
}

/** GET `url` (http://127.0.0.1:... only) as Traefik's HTTP provider would, and report what arrived. */
export async function fetchLikeTraefik(url: string, timeout = "5s"): Promise<TraefikClientResult> {
  if (!url.startsWith("http://127.0.0.1:")) throw new Error(`traefik-client only talks to 127.0.0.1, not ${url}`);
  const binary = traefikClientBinary();
  if (!binary.path) throw new Error(binary.missing);
  const child = Bun.spawn([binary.path, "-url", url, "-timeout", timeout], { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  if (code !== 0) throw new Error(`traefik-client exited with ${code}: ${stderr.trim()}`);
  const line = stdout.trim().split("\n").at(-1) ?? "";
  try {
    return JSON.parse(line) as TraefikClientResult;
  } catch {
    throw new Error(`traefik-client printed no JSON line: ${stdout.trim()} ${stderr.trim()}`);
  }
}
