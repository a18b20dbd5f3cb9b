// The Traefik HTTP provider (default port 8081). Traefik polls
// GET /api/dynamic (its `providers.http.endpoint`), accepts only a 200, and
// keeps its last good configuration when the provider answers with an error;
// so until this node has a routing document it answers 503, never an empty
// 200 that would withdraw every route. Answers carry a strong ETag of the
// exact bytes: `If-None-Match` with the current tag gives 304, and the body is
// sent gzip-compressed to clients that ask for it (Traefik's Go client does).
// The section endpoints (/api/http/routers, ...) serve one map each, for
// people and tools; they answer `{}` for an empty section.

import { Elysia } from "elysia";
import { createHash } from "node:crypto";
import { gzipSync } from "node:zlib";

/** A rendered document and what the server needs to answer conditionally. */
export interface ProviderSnapshot {
  /** The document as served. */
  json: string;
  /** Strong ETag of `json`, quoted. */
  etag: string;
  /** `json` compressed with gzip; may be computed on first call and kept. */
  gzip(): Uint8Array;
  /** The document itself, for the section endpoints. */
  document: unknown;
}

export interface RoutingSource {
  /** The dynamic configuration document, or undefined while none is available yet. */
  dynamicConfiguration(): unknown | undefined;
  /** Why there is no document yet, for the 503 body. */
  unavailableReason(): string;
  /** The document already rendered with its ETag; when absent it is rendered per request. */
  snapshot?(): ProviderSnapshot | undefined;
}

export const providerSections = [
  ["http", "routers"],
  ["http", "services"],
  ["http", "middlewares"],
  ["tcp", "routers"],
  ["tcp", "services"],
  ["udp", "routers"],
  ["udp", "services"],
] as const;

/** Seconds Traefik (or a person) is asked to wait before asking again for a document that is not ready. */
const retryAfterSeconds = 5;

export function providerApi(source: RoutingSource) {
  const app = new Elysia({ name: "provider-api" })
    .get("/health", () => ({ status: "ok" }))
    .get("/api/dynamic", ({ request }) => {
      const snapshot = currentSnapshot(source);
      if (!snapshot) return unavailable(source);
      return respond(request, snapshot.etag, snapshot.json, snapshot.gzip);
    });
  for (const [protocol, section] of providerSections) {
    app.get(`/api/${protocol}/${section}`, ({ request }) => {
      const snapshot = currentSnapshot(source);
      if (!snapshot) return unavailable(source);
      const document = snapshot.document as Record<string, Record<string, unknown> | undefined> | undefined;
      const value = document?.[protocol]?.[section] ?? {};
      // A section is a function of the whole document, so the document's tag, qualified, identifies it.
      return respond(request, `"${snapshot.etag.slice(1, -1)}-${protocol}-${section}"`, JSON.stringify(value), undefined);
    });
  }
  return app;
}

function currentSnapshot(source: RoutingSource): ProviderSnapshot | undefined {
  if (source.snapshot) return source.snapshot();
  const document = source.dynamicConfiguration();
  if (document === undefined) return undefined;
  const json = JSON.stringify(document);
  return {
    json,
    etag: `"${createHash("sha256").update(json).digest("base64url").slice(0, 27)}"`,
    gzip: () => gzipSync(json),
    document,
  };
}

function unavailable(source: RoutingSource): Response {
  return new Response(JSON.stringify({ error: source.unavailableReason() }), {
    status: 503,
    headers: { "content-type": "application/json", "retry-after": String(retryAfterSeconds), "cache-control": "no-store" },
  });
}

function respond(request: Request, etag: string, json: string, gzip: (() => Uint8Array) | undefined): Response {
  const useGzip = gzip !== undefined && acceptsGzip(request.headers.get("accept-encoding"));
  // The compressed bytes are another representation, so they get their own strong tag.
  const gzipTag = `"${etag.slice(1, -1)}-gzip"`;
  const headers: Record<string, string> = { etag: useGzip ? gzipTag : etag, "cache-control": "no-cache" };
  if (gzip) headers.vary = "accept-encoding";
  if (ifNoneMatch(request.headers.get("if-none-match"), [etag, gzipTag])) return new Response(null, { status: 304, headers });
  headers["content-type"] = "application/json";
  if (!useGzip) return new Response(json, { headers });
  headers["content-encoding"] = "gzip";
  return new Response(gzip(), { headers });
}

/** If-None-Match uses the weak comparison: W/ prefixes are ignored; `*` matches anything. */
export function ifNoneMatch(header: string | null, tags: readonly string[]): boolean {
  if (header === null || header.length > 4096) return false;
  return header.split(",").some((candidate) => {
    const tag = candidate.trim().replace(/^W\//, "");
    return tag === "*" || tags.includes(tag);
  });
}

export function acceptsGzip(header: string | null): boolean {
  if (header === null || header.length > 1024) return false;
  return header.split(",").some((part) => {
    const [coding, ...parameters] = part.split(";").map((piece) => piece.trim().toLowerCase());
    if (coding !== "gzip") return false;
    const quality = parameters.find((parameter) => parameter.startsWith("q="));
    return quality === undefined || Number(quality.slice(2)) > 0;
  });
}
