// How read commands reach an agent: the --api URL, or the local agent's
// control API as the configuration describes it. Connection failures become
// one clear sentence, never a stack trace.

import type { CommandContext } from "./command.ts";
import { loadConfigFromEnvironment } from "./load-config.ts";
import { UsageError } from "./args.ts";

const requestTimeoutMs = 5000;
const responseBytesMax = 16 * 1024 * 1024;

export class ApiError extends Error {
  override name = "ApiError";
}

export function apiBaseUrl(context: CommandContext): string {
  const explicit = context.args.flags.get("api");
  if (typeof explicit === "string") {
    let url: URL;
    try {
      url = new URL(explicit);
    } catch {
      throw new UsageError(`--api expects a URL such as http://127.0.0.1:8080, got "${explicit}"`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new UsageError(`--api expects an http:// or https:// URL, got "${explicit}"`);
    }
    return explicit.replace(/\/+$/, "");
  }
  const configPath = context.args.flags.get("config");
  const { config } = loadConfigFromEnvironment(context.env, {}, typeof configPath === "string" ? configPath : undefined);
  const unspecified = config.bindAddr === "0.0.0.0" || config.bindAddr === "::";
  const host = unspecified ? "127.0.0.1" : config.bindAddr;
  return `http://${host.includes(":") ? `[${host}]` : host}:${config.apiPort}`;
}

export async function getJson(context: CommandContext, path: string): Promise<unknown> {
  const base = apiBaseUrl(context);
  let response: Response;
  try {
    response = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(requestTimeoutMs) });
  } catch (error) {
    const code = (error as { code?: string }).code;
    const reason =
      (error as Error).name === "TimeoutError"
        ? `no answer within ${requestTimeoutMs} ms`
        : code === "ConnectionRefused" || code === "ECONNREFUSED"
          ? "connection refused"
          : (error as Error).message;
    throw new ApiError(
      `cannot reach the agent at ${base} (${reason}); is \`constellation agent\` running there? Choose another with --api URL`,
    );
  }
  const text = await response.text();
  if (text.length > responseBytesMax) throw new ApiError(`${base}${path}: response larger than ${responseBytesMax} bytes`);
  if (!response.ok) {
    throw new ApiError(`${base}${path} answered ${response.status} ${response.statusText}: ${text.slice(0, 500)}`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiError(`${base}${path} answered with something that is not JSON: ${text.slice(0, 200)}`);
  }
}
