// The WARP egress check, pure half. The `warp-nat-gateway` container is
// healthy only when a trace request made from inside it (so it leaves
// through the gateway's own egress) answers `warp=on` or `warp=plus`, as
// Cloudflare's /cdn-cgi/trace does for traffic that went through WARP. Any
// other answer, an error or a timeout is unhealthy: the original accepted any
// IP address as proof, which it is not. The `ip=` line is the egress address
// other nodes see.
//
// The request runs through Docker's exec API, whose output is multiplexed
// in frames (an 8-byte header: stream type, 3 zero bytes, big-endian
// length); `demultiplex` splits it, keeping at most a bounded number of
// bytes.

import { isIP } from "../lib/ip.ts";
import { quote } from "./labels.ts";

/** Bytes of exec output kept; a trace answer is a few hundred. */
export const execOutputBytesMax = 16 * 1024;
/** Longest detail text in a WARPHealth record (its schema allows 256). */
const detailMax = 256;

export interface TraceVerdict {
  healthy: boolean;
  egressIp: string | undefined;
  detail: string;
}

/**
 * The command run inside the gateway: curl when the image has it, else
 * wget under `timeout` (busybox images; busybox-static's own `wget -T`
 * crashes), else plain wget, which the exec deadline bounds. The URL and the
 * timeout are passed as arguments, never spliced into the script, so no URL
 * can inject shell syntax.
 */
export function traceCommand(url: string, timeoutSeconds: number): string[] {
  const script =
    'if command -v curl >/dev/null 2>&1; then exec curl -fsS --max-time "$1" "$2"; fi; ' +
    'if ! command -v wget >/dev/null 2>&1; then echo "neither curl nor wget is installed in the container" >&2; exit 127; fi; ' +
    'if ! command -v timeout >/dev/null 2>&1; then exec wget -q -O - "$2"; fi; ' +
    'timeout "$1" wget -q -O - "$2"; rc=$?; ' +
    // GNU timeout exits 124; busybox's kills wget with SIGTERM (128 + 15).
    'if [ "$rc" -eq 124 ] || [ "$rc" -eq 143 ]; then echo "timed out after $1 s" >&2; fi; exit "$rc"';
  return ["sh", "-c", script, "warp-trace", String(Math.max(1, Math.ceil(timeoutSeconds))), url];
}

/** `key=value` lines of a trace answer (later keys win; at most 64 lines read). */
export function parseTrace(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split("\n").slice(0, 64)) {
    const equals = line.indexOf("=");
    if (equals <= 0) continue;
    fields.set(line.slice(0, equals).trim(), line.slice(equals + 1).trim());
  }
  return fields;
}

export function traceVerdict(exitCode: number, stdout: string, stderr: string): TraceVerdict {
  if (exitCode !== 0) {
    // The last line: the script's own timeout note comes after whatever the shell printed about the killed child.
    const reason = (stderr.trim() || stdout.trim()).split("\n").at(-1)?.trim() ?? "";
    return verdict(false, undefined, `trace request failed inside the gateway (exit ${exitCode})${reason ? `: ${reason}` : ""}`);
  }
  const fields = parseTrace(stdout);
  const warp = fields.get("warp");
  const ipText = fields.get("ip");
  const egressIp = ipText !== undefined && isIP(ipText) ? ipText : undefined;
  if (warp === "on" || warp === "plus") return verdict(true, egressIp, `warp=${warp}`);
  if (warp === undefined) return verdict(false, egressIp, "the trace answer has no warp= line");
  return verdict(false, egressIp, `egress is not through WARP (warp=${quote(warp)})`);
}

function verdict(healthy: boolean, egressIp: string | undefined, detail: string): TraceVerdict {
  return { healthy, egressIp, detail: detail.length > detailMax ? `${detail.slice(0, detailMax - 3)}...` : detail };
}

export interface Demultiplexed {
  stdout: string;
  stderr: string;
  truncated: boolean;
}

/**
 * Splits Docker's multiplexed exec output. Bytes past `bytesMax` (over both
 * streams) are dropped and `truncated` is set; a stream that does not start
 * with a frame header (a TTY exec) is taken as plain stdout.
 */
export function demultiplex(data: Uint8Array, bytesMax = execOutputBytesMax): Demultiplexed {
  const decoder = new TextDecoder();
  const out: Uint8Array[] = [];
  const err: Uint8Array[] = [];
  let kept = 0;
  let truncated = false;
  const looksFramed = data.length >= 8 && data[0]! <= 2 && data[1] === 0 && data[2] === 0 && data[3] === 0;
  if (!looksFramed) {
    const slice = data.subarray(0, bytesMax);
    return { stdout: decoder.decode(slice), stderr: "", truncated: data.length > bytesMax };
  }
  let offset = 0;
  while (offset + 8 <= data.length) {
    const stream = data[offset]!;
    const length = ((data[offset + 4]! << 24) >>> 0) + (data[offset + 5]! << 16) + (data[offset + 6]! << 8) + data[offset + 7]!;
    const start = offset + 8;
    const end = Math.min(data.length, start + length);
    const room = Math.max(0, bytesMax - kept);
    const piece = data.subarray(start, Math.min(end, start + room));
    if (piece.length < end - start) truncated = true;
    kept += piece.length;
    if (stream === 2) err.push(piece);
    else out.push(piece);
    offset = start + length;
  }
  if (offset < data.length) truncated = true;
  const join = (parts: Uint8Array[]) => {
    const bytes = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
    let at = 0;
    for (const part of parts) {
      bytes.set(part, at);
      at += part.length;
    }
    return decoder.decode(bytes);
  };
  return { stdout: join(out), stderr: join(err), truncated };
}
