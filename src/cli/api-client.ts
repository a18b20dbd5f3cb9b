// How read commands reach an agent: the --api URL, or the local agent's
// control API as the configuration describes it. Connection failures become
// one clear sentence, never a stack trace.

import type { CommandContext } from "./command.ts";
import { loadConfigFromEnvironment } from "./load-config.ts";
import { UsageError } from "./args.ts";
import { readFileSync } from "node:fs";

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

/**
 * The bearer token for mutating calls: from --token-file, else the
 * configuration's apiTokenFile. The file must hold the token alone.
 */
export function readApiToken(context: CommandContext): string {
  const tokenFlag = context.args.flags.get("token-file");
  const configPath = context.args.flags.get("config");
  const tokenFile =
    typeof tokenFlag === "string"
      ? tokenFlag
      : loadConfigFromEnvironment(context.env, {}, typeof configPath === "string" ? configPath : undefined).config.apiTokenFile;
  let token: string;
  try {
    token = readFileSync(tokenFile, "utf8").trim();
  } catch (error) {
    throw new ApiError(`cannot read the API token from ${tokenFile}: ${(error as Error).message}`);
  }
  if (token === "" || /\s/.test(token)) throw new ApiError(`${tokenFile} must hold the API token alone on one line`);
  return token;
}

/** POST a JSON body with the bearer token; the status and the parsed answer ({} when it is not JSON). */
export async function postJson(base: string, path: string, token: string, body: unknown): Promise<{ status: number; ok: boolean; statusText: string; body: unknown }> {
  let response: Response;
  try {
    response = await fetch(`${base}${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(requestTimeoutMs),
    });
  } catch (error) {
    throw new ApiError(`cannot reach the agent at ${base}: ${(error as Error).message}`);
  }
  const answer: unknown = await response.json().catch(() => ({}));
  return { status: response.status, ok: response.ok, statusText: response.statusText, body: answer };
}
