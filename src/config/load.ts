// Loading the configuration from its sources, lowest precedence first:
// defaults (from the profile), a JSON file, environment variables, flags.
//
// Every value remembers where it came from, so that an invalid value fails
// start-up with a message naming the key, its source and what was expected.
// The loader does no I/O of its own: the caller passes the environment, the
// flags and a file reader, which keeps it testable and deterministic.

import { Value } from "@sinclair/typebox/value";
import type { TSchema } from "@sinclair/typebox";
import { Config, dockerConfigDefaults, type ProfileName } from "./schema.ts";
import { dockerConfigProblems } from "../docker/options.ts";
import { profiles } from "./profiles.ts";
import { isIP, parseHostPort } from "../lib/ip.ts";

/** Environment variables of the original agent, kept so its users can switch. */
export const legacyEnv: Record<string, string> = {
  TS_HOSTNAME: "nodeName",
  DOMAIN: "domain",
  PUBLIC_IP: "publicIp",
  NODE_PRIORITY: "priority",
  BIND_PORT: "gossipPort",
  RAFT_PORT: "raftPort",
  API_PORT: "apiPort",
  TRAEFIK_HTTP_PROVIDER_PORT: "providerPort",
  TRAEFIK_CERT_RESOLVER: "traefik.certResolver",
  CLOUDFLARE_ZONE_ID: "cloudflare.zoneId",
  DATA_DIR: "dataDir",
  SECRETS_PATH: "secretsPath",
  STACK_NAME: "stackName",
};

/** Environment variables that name the config file, highest precedence first. */
export const configFileEnv = ["CONSTELLATION_CONFIG", "CONFIG_FILE"] as const;

export interface LoadInput {
  /** Flag values keyed by config path (e.g. "gossipPort"); strings are coerced by the schema. */
  flags: Record<string, string | string[] | boolean | number>;
  configFile?: string;
  env: Record<string, string | undefined>;
  readFile: (path: string) => string;
  hostname: string;
  isRoot: boolean;
  homeDir: string;
}

export interface LoadedConfig {
  config: Config;
  /** Where each leaf's value came from: "default", "file <path>", "environment variable X", "flag --x". */
  sources: Record<string, string>;
  configFile?: string;
}

export class ConfigError extends Error {
  override name = "ConfigError";
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join("\n  ")}`);
  }
}

type Leaf = { path: string; value: unknown; source: string };

export function loadConfig(input: LoadInput): LoadedConfig {
  const problems: string[] = [];
  const configFile = input.configFile ?? configFileEnv.map((name) => input.env[name]).find((v) => v);
  const layers: Leaf[][] = [];
  const fileLeaves = configFile ? readConfigFile(configFile, input.readFile, problems) : [];
  const envLeaves = environmentLeaves(input.env, problems);
  const flagLeaves = Object.entries(input.flags).map(([path, value]) => ({
    path,
    value: coerce(path, value),
    source: `flag --${kebab(path)}`,
  }));
  layers.push(fileLeaves, envLeaves, flagLeaves);

  // The profile decides the timing defaults, so it is resolved first.
  const profileLeaf = [...flagLeaves, ...envLeaves, ...fileLeaves].find((leaf) => leaf.path === "profile");
  const profileName = (profileLeaf?.value ?? "lan") as ProfileName;
  if (!(profileName in profiles)) {
    problems.push(
      `profile = ${JSON.stringify(profileName)} (from ${profileLeaf?.source}): expected one of "lan", "wan", "local"`,
    );
    throw new ConfigError(problems);
  }
  const merged = defaults(profileName, input) as unknown as Record<string, unknown>;
  const sources: Record<string, string> = {};
  for (const leaf of leavesOf(merged, "")) sources[leaf.path] = "default";
  for (const layer of layers) {
    for (const leaf of layer) {
      setPath(merged, leaf.path, leaf.value);
      sources[leaf.path] = leaf.source;
    }
  }
  deriveDefaults(merged, sources);
  problems.push(...schemaProblems(merged, sources));
  if (problems.length === 0) problems.push(...semanticProblems(merged as unknown as Config, sources));
  if (problems.length > 0) throw new ConfigError(problems);
  return { config: merged as unknown as Config, sources, configFile };
}

function defaults(profile: ProfileName, input: LoadInput): Config {
  const timing = profiles[profile];
  const hostLabel = (input.hostname.split(".")[0] ?? "").toLowerCase().replace(/[^a-z0-9-]/g, "-");
  return {
    profile,
    nodeName: hostLabel.replace(/^-+|-+$/g, "") || "node",
    bindAddr: "127.0.0.1",
    advertiseAddr: "",
    gossipPort: 7946,
    raftPort: 8300,
    apiPort: 8080,
    providerPort: 8081,
    providerBindAddrs: [],
    join: [],
    dataDir: input.isRoot ? "/opt/constellation/data" : `${input.homeDir}/.local/share/constellation`,
    domain: "localhost",
    publicIp: "",
    priority: 100,
    capabilities: [],
    cordoned: false,
    bootstrapExpect: 1,
    maxVoters: 5,
    gossipKeyFile: "",
    apiTokenFile: "",
    secretsPath: "/opt/constellation/secrets",
    stackName: "constellation",
    logLevel: "info",
    gossip: { ...timing.gossip },
    raft: { ...timing.raft },
    lease: { ...timing.lease },
    cloudflare: { zoneId: "", apiTokenFile: "" },
    traefik: { entryPoints: ["websecure"], certResolver: "letsencrypt" },
    docker: dockerConfigDefaults(),
  };
}

/** Values whose default depends on another value. */
function deriveDefaults(merged: Record<string, unknown>, sources: Record<string, string>): void {
  const secretsPath = String(merged.secretsPath);
  if (merged.apiTokenFile === "") {
    merged.apiTokenFile = `${secretsPath}/api-token.txt`;
    sources.apiTokenFile = "default (from secretsPath)";
  }
  const cloudflare = merged.cloudflare as Record<string, unknown> | undefined;
  if (cloudflare && typeof cloudflare === "object" && cloudflare.apiTokenFile === "") {
    cloudflare.apiTokenFile = `${secretsPath}/cf-api-token.txt`;
    sources["cloudflare.apiTokenFile"] = "default (from secretsPath)";
  }
}

function readConfigFile(path: string, readFile: (path: string) => string, problems: string[]): Leaf[] {
  let text: string;
  try {
    text = readFile(path);
  } catch (error) {
    problems.push(`config file ${path}: cannot be read (${(error as Error).message})`);
    throw new ConfigError(problems);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    problems.push(`config file ${path}: not valid JSON (${(error as Error).message})`);
    throw new ConfigError(problems);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    problems.push(`config file ${path}: expected a JSON object at the top level`);
    throw new ConfigError(problems);
  }
  const leaves: Leaf[] = [];
  collectFileLeaves(parsed as Record<string, unknown>, Config, "", `file ${path}`, leaves, problems);
  return leaves;
}

function collectFileLeaves(
  object: Record<string, unknown>,
  schema: TSchema,
  prefix: string,
  source: string,
  out: Leaf[],
  problems: string[],
): void {
  const properties = (schema as { properties?: Record<string, TSchema> }).properties ?? {};
  for (const [key, value] of Object.entries(object)) {
    const path = prefix ? `${prefix}.${key}` : key;
    const child = properties[key];
    if (!child) {
      const known = Object.keys(properties).sort().join(", ");
      problems.push(`${path} (from ${source}): unknown key; known keys here: ${known}`);
      continue;
    }
    const isObject = (child as { type?: string }).type === "object";
    if (isObject && value !== null && typeof value === "object" && !Array.isArray(value)) {
      collectFileLeaves(value as Record<string, unknown>, child, path, source, out, problems);
    } else {
      out.push({ path, value, source });
    }
  }
}

/** Every leaf path of the schema, e.g. "gossip.probeIntervalMs". */
export function schemaLeafPaths(schema: TSchema = Config, prefix = ""): string[] {
  const properties = (schema as { properties?: Record<string, TSchema> }).properties ?? {};
  return Object.entries(properties).flatMap(([key, child]) => {
    const path = prefix ? `${prefix}.${key}` : key;
    return (child as { type?: string }).type === "object" ? schemaLeafPaths(child, path) : [path];
  });
}

/** CONSTELLATION_GOSSIP_PROBE_INTERVAL_MS for "gossip.probeIntervalMs". */
export function envNameOf(path: string): string {
  return `CONSTELLATION_${path
    .split(".")
    .map((part) => part.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase())
    .join("_")}`;
}

function environmentLeaves(env: Record<string, string | undefined>, problems: string[]): Leaf[] {
  const leaves: Leaf[] = [];
  for (const [name, path] of Object.entries(legacyEnv)) {
    const raw = env[name];
    if (raw !== undefined && raw !== "") leaves.push({ path, value: coerce(path, raw), source: `environment variable ${name}` });
  }
  // The project's own names come after the legacy ones, so they win when both are set.
  const known = new Set<string>();
  for (const path of schemaLeafPaths()) {
    const name = envNameOf(path);
    known.add(name);
    const raw = env[name];
    if (raw !== undefined) leaves.push({ path, value: coerce(path, raw), source: `environment variable ${name}` });
  }
  for (const name of Object.keys(env)) {
    if (name.startsWith("CONSTELLATION_") && !known.has(name) && name !== "CONSTELLATION_CONFIG") {
      problems.push(`environment variable ${name}: not a configuration key (see \`constellation config check --help\`)`);
    }
  }
  return leaves;
}

function schemaAt(path: string): TSchema | undefined {
  let schema: TSchema | undefined = Config;
  for (const part of path.split(".")) {
    schema = (schema as { properties?: Record<string, TSchema> } | undefined)?.properties?.[part];
  }
  return schema;
}

/**
 * Turns a string from the environment or a flag into the schema's type. A
 * string that does not parse is passed through unchanged, so validation
 * reports it with its source instead of a vague coercion failure.
 */
function coerce(path: string, raw: unknown): unknown {
  const schema = schemaAt(path) as { type?: string } | undefined;
  if (typeof raw !== "string" || !schema) return raw;
  switch (schema.type) {
    case "integer":
      return /^-?\d+$/.test(raw.trim()) ? Number(raw.trim()) : raw;
    case "number": {
      const n = Number(raw.trim());
      return raw.trim() !== "" && Number.isFinite(n) ? n : raw;
    }
    case "boolean": {
      const lower = raw.trim().toLowerCase();
      if (["true", "1", "yes", "on"].includes(lower)) return true;
      if (["false", "0", "no", "off"].includes(lower)) return false;
      return raw;
    }
    case "array":
      return raw
        .split(",")
        .map((item) => item.trim())
        .filter((item) => item !== "");
    default:
      return raw;
  }
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split(".");
  let node = target;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    if (next === null || typeof next !== "object" || Array.isArray(next)) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts[parts.length - 1]!] = value;
}

function leavesOf(object: Record<string, unknown>, prefix: string): Leaf[] {
  return Object.entries(object).flatMap(([key, value]) => {
    const path = prefix ? `${prefix}.${key}` : key;
    return value !== null && typeof value === "object" && !Array.isArray(value)
      ? leavesOf(value as Record<string, unknown>, path)
      : [{ path, value, source: "" }];
  });
}

function schemaProblems(merged: Record<string, unknown>, sources: Record<string, string>): string[] {
  const seen = new Set<string>();
  const problems: string[] = [];
  for (const error of Value.Errors(Config, merged)) {
    const path = error.path.replace(/^\//, "").replace(/\//g, ".");
    // Report an array element's problem against the array, whose source we know.
    const key = sources[path] !== undefined ? path : path.replace(/\.\d+$/, "");
    if (seen.has(key)) continue;
    seen.add(key);
    const source = sources[key] ?? "unknown source";
    const value = getPath(merged, key);
    problems.push(`${key} = ${JSON.stringify(value)} (from ${source}): expected ${describe(schemaAt(key) ?? error.schema)}`);
  }
  return problems;
}

function getPath(object: Record<string, unknown>, path: string): unknown {
  let node: unknown = object;
  for (const part of path.split(".")) node = (node as Record<string, unknown> | undefined)?.[part];
  return node;
}

/** A person-readable statement of what a schema accepts. */
export function describe(schema: TSchema): string {
  const s = schema as Record<string, unknown>;
  if (Array.isArray(s.anyOf)) {
    return `one of ${(s.anyOf as Record<string, unknown>[]).map((option) => JSON.stringify(option.const)).join(", ")}`;
  }
  switch (s.type) {
    case "integer":
    case "number": {
      const what = s.type === "integer" ? "an integer" : "a number";
      if (s.minimum !== undefined && s.maximum !== undefined) return `${what} from ${s.minimum} to ${s.maximum}`;
      if (s.minimum !== undefined) return `${what} of at least ${s.minimum}`;
      return what;
    }
    case "boolean":
      return "true or false";
    case "string": {
      const parts = ["a string"];
      if (s.minLength) parts.push(`of ${s.minLength} to ${s.maxLength ?? "any"} characters`);
      else if (s.maxLength) parts.push(`of at most ${s.maxLength} characters`);
      if (s.pattern) parts.push(`matching ${s.pattern}`);
      return parts.join(" ");
    }
    case "array":
      return `a list (comma-separated in flags and environment variables) of at most ${s.maxItems ?? "any number of"} items, each ${describe(s.items as TSchema)}`;
    case "object":
      return "an object";
    default:
      return "a valid value";
  }
}

function semanticProblems(config: Config, sources: Record<string, string>): string[] {
  const problems: string[] = [];
  const from = (path: string) => `(from ${sources[path] ?? "default"})`;
  const addressChecks: Array<[string, string, boolean]> = [
    ["bindAddr", config.bindAddr, true],
    ["advertiseAddr", config.advertiseAddr, false],
    ["publicIp", config.publicIp, false],
  ];
  for (const [key, value, required] of addressChecks) {
    if ((required || value !== "") && !isIP(value)) {
      problems.push(`${key} = ${JSON.stringify(value)} ${from(key)}: expected an IPv4 or IPv6 address`);
    }
  }
  for (const address of config.providerBindAddrs) {
    if (!isIP(address)) {
      problems.push(`providerBindAddrs ${from("providerBindAddrs")}: ${JSON.stringify(address)} is not an IPv4 or IPv6 address`);
    }
  }
  const ports: Array<[string, number]> = [
    ["gossipPort", config.gossipPort],
    ["raftPort", config.raftPort],
    ["apiPort", config.apiPort],
    ["providerPort", config.providerPort],
  ];
  for (let i = 0; i < ports.length; i++) {
    for (let j = i + 1; j < ports.length; j++) {
      const [a, pa] = ports[i]!;
      const [b, pb] = ports[j]!;
      if (pa === pb) problems.push(`${b} = ${pb} ${from(b)}: must differ from ${a} = ${pa} ${from(a)}`);
    }
  }
  for (const seed of config.join) {
    const parsed = parseHostPort(seed, config.gossipPort);
    if (typeof parsed === "string") problems.push(`join ${from("join")}: ${parsed}`);
  }
  if (config.maxVoters % 2 === 0) {
    problems.push(`maxVoters = ${config.maxVoters} ${from("maxVoters")}: expected an odd number (1, 3, 5 or 7)`);
  }
  if (config.bootstrapExpect > config.maxVoters) {
    problems.push(
      `bootstrapExpect = ${config.bootstrapExpect} ${from("bootstrapExpect")}: must not exceed maxVoters = ${config.maxVoters}`,
    );
  }
  if (config.raft.electionTimeoutMs < 5 * config.raft.heartbeatIntervalMs) {
    problems.push(
      `raft.electionTimeoutMs = ${config.raft.electionTimeoutMs} ${from("raft.electionTimeoutMs")}: expected at least ` +
        `5 x raft.heartbeatIntervalMs = ${5 * config.raft.heartbeatIntervalMs}`,
    );
  }
  problems.push(...dockerConfigProblems(config.docker).map((problem) => `${problem.key} ${from(problem.key)}: ${problem.message}`));
  if (config.lease.renewIntervalMs * 2 >= config.lease.ttlMs) {
    problems.push(
      `lease.renewIntervalMs = ${config.lease.renewIntervalMs} ${from("lease.renewIntervalMs")}: expected less than ` +
        `lease.ttlMs / 2 = ${config.lease.ttlMs / 2}`,
    );
  }
  if (config.gossip.probeTimeoutMs >= config.gossip.probeIntervalMs) {
    problems.push(
      `gossip.probeTimeoutMs = ${config.gossip.probeTimeoutMs} ${from("gossip.probeTimeoutMs")}: expected less than ` +
        `gossip.probeIntervalMs = ${config.gossip.probeIntervalMs}`,
    );
  }
  return problems;
}

function kebab(path: string): string {
  return path.replace(/\./g, "-").replace(/([a-z0-9])([A-Z])/g, "$1-$2").toLowerCase();
}
