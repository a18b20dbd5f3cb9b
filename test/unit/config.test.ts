import { describe, expect, test } from "bun:test";
import { ConfigError, envNameOf, loadConfig, schemaLeafPaths, type LoadInput } from "../../src/config/load.ts";
import { Config } from "../../src/config/schema.ts";
import { profiles } from "../../src/config/profiles.ts";

function input(overrides: Partial<LoadInput> = {}): LoadInput {
  return {
    flags: {},
    env: {},
    readFile: (path) => {
      throw new Error(`ENOENT: ${path}`);
    },
    hostname: "Node-A.example.com",
    isRoot: true,
    homeDir: "/home/op",
    ...overrides,
  };
}

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error("expected a ConfigError");
}

describe("configuration", () => {
  test("defaults give the embedded one-node loopback agent", () => {
    const { config, sources } = loadConfig(input());
    expect(config.nodeName).toBe("node-a");
    expect(config.bindAddr).toBe("127.0.0.1");
    expect([config.gossipPort, config.raftPort, config.apiPort, config.providerPort]).toEqual([7946, 8300, 8080, 8081]);
    expect(config.bootstrapExpect).toBe(1);
    expect(config.gossip).toEqual(profiles.lan.gossip);
    expect(config.cloudflare.apiTokenFile).toBe("/opt/constellation/secrets/cf-api-token.txt");
    expect(sources.gossipPort).toBe("default");
    expect(loadConfig(input({ isRoot: false })).config.dataDir).toBe("/home/op/.local/share/constellation");
  });

  test("every schema field is documented", () => {
    const walk = (schema: Record<string, unknown>, path: string): string[] => {
      const properties = (schema.properties ?? {}) as Record<string, Record<string, unknown>>;
      return Object.entries(properties).flatMap(([key, child]) => {
        const here = path ? `${path}.${key}` : key;
        const missing = typeof child.description === "string" && child.description.length > 20 ? [] : [here];
        return [...missing, ...(child.type === "object" ? walk(child, here) : [])];
      });
    };
    expect(walk(Config as unknown as Record<string, unknown>, "")).toEqual([]);
  });

  test("precedence is defaults < file < environment < flags", () => {
    const file = JSON.stringify({ gossipPort: 1001, raftPort: 1002, apiPort: 1003, gossip: { probeIntervalMs: 2000 } });
    const { config, sources } = loadConfig(
      input({
        configFile: "/etc/c.json",
        readFile: () => file,
        env: { RAFT_PORT: "2002", CONSTELLATION_API_PORT: "2003" },
        flags: { apiPort: 3003 },
      }),
    );
    expect(config.gossipPort).toBe(1001);
    expect(config.raftPort).toBe(2002);
    expect(config.apiPort).toBe(3003);
    expect(config.gossip.probeIntervalMs).toBe(2000);
    expect(config.gossip.probeTimeoutMs).toBe(500);
    expect(sources.gossipPort).toBe("file /etc/c.json");
    expect(sources.raftPort).toBe("environment variable RAFT_PORT");
    expect(sources.apiPort).toBe("flag --api-port");
  });

  test("the profile picks the timing defaults; single fields still override", () => {
    const { config } = loadConfig(input({ env: { CONSTELLATION_PROFILE: "wan", CONSTELLATION_GOSSIP_GOSSIP_NODES: "6" } }));
    expect(config.gossip.probeIntervalMs).toBe(5000);
    expect(config.gossip.gossipNodes).toBe(6);
    expect(config.raft).toEqual(profiles.wan.raft);
  });

  test("the original agent's environment variables are honoured", () => {
    const { config } = loadConfig(
      input({
        env: {
          TS_HOSTNAME: "edge-1",
          DOMAIN: "example.org",
          PUBLIC_IP: "203.0.113.7",
          NODE_PRIORITY: "10",
          TRAEFIK_HTTP_PROVIDER_PORT: "9081",
          CLOUDFLARE_ZONE_ID: "zone123",
          SECRETS_PATH: "/run/secrets",
          STACK_NAME: "prod",
        },
      }),
    );
    expect(config.nodeName).toBe("edge-1");
    expect(config.domain).toBe("example.org");
    expect(config.publicIp).toBe("203.0.113.7");
    expect(config.priority).toBe(10);
    expect(config.providerPort).toBe(9081);
    expect(config.cloudflare.zoneId).toBe("zone123");
    expect(config.cloudflare.apiTokenFile).toBe("/run/secrets/cf-api-token.txt");
    expect(config.stackName).toBe("prod");
  });

  test.each([
    [{ env: { BIND_PORT: "seventy" } }, 'gossipPort = "seventy" (from environment variable BIND_PORT): expected an integer from 1 to 65535'],
    [{ flags: { gossipPort: 70000 } }, "gossipPort = 70000 (from flag --gossip-port): expected an integer from 1 to 65535"],
    [{ env: { CONSTELLATION_PROFILE: "moon" } }, 'profile = "moon" (from environment variable CONSTELLATION_PROFILE): expected one of "lan", "wan", "local"'],
    [{ flags: { bindAddr: "nowhere" } }, 'bindAddr = "nowhere" (from flag --bind-addr): expected an IPv4 or IPv6 address'],
    [{ flags: { nodeName: "bad_name" } }, 'nodeName = "bad_name" (from flag --node-name): expected a string of 1 to 63 characters matching'],
    [{ flags: { maxVoters: 4 } }, "maxVoters = 4 (from flag --max-voters): expected an odd number"],
    [{ flags: { join: ["a:1", "b:notaport"] } }, 'join (from flag --join): "b:notaport": port "notaport" is not a number'],
    [{ env: { CONSTELLATION_CORDONED: "maybe" } }, 'cordoned = "maybe" (from environment variable CONSTELLATION_CORDONED): expected true or false'],
    [{ env: { CONSTELLATION_GOSIP_PORT: "1" } }, "environment variable CONSTELLATION_GOSIP_PORT: not a configuration key"],
    [{ flags: { "lease.renewIntervalMs": 1500 } }, "lease.renewIntervalMs = 1500 (from flag --lease-renew-interval-ms): expected less than lease.ttlMs / 2 = 1000"],
    [{ env: { CONSTELLATION_PROVIDER_BIND_ADDRS: "127.0.0.1,300.1.1.1" } }, 'providerBindAddrs (from environment variable CONSTELLATION_PROVIDER_BIND_ADDRS): "300.1.1.1" is not an IPv4 or IPv6 address'],
    [{ flags: { "lease.ttlMs": 700_000 } }, "lease.ttlMs = 700000 (from flag --lease-ttl-ms): expected an integer from 1 to 600000"],
  ] as Array<[Partial<LoadInput>, string]>)("rejects %j precisely", (overrides, expected) => {
    const problems = problemsOf(() => loadConfig(input(overrides)));
    expect(problems.join("\n")).toContain(expected);
  });

  test("file errors name the file and the key", () => {
    const read = (text: string) => () => text;
    expect(problemsOf(() => loadConfig(input({ configFile: "/c.json", readFile: read("{oops") })))[0]).toContain(
      "config file /c.json: not valid JSON",
    );
    expect(problemsOf(() => loadConfig(input({ configFile: "/c.json", readFile: read("[]") })))[0]).toContain(
      "expected a JSON object",
    );
    const unknown = problemsOf(() => loadConfig(input({ configFile: "/c.json", readFile: read('{"gossip":{"probeInterval":5}}') })));
    expect(unknown[0]).toContain("gossip.probeInterval (from file /c.json): unknown key");
    const wrongType = problemsOf(() => loadConfig(input({ configFile: "/c.json", readFile: read('{"priority":"high"}') })));
    expect(wrongType[0]).toBe('priority = "high" (from file /c.json): expected an integer from 0 to 1000000');
    expect(problemsOf(() => loadConfig(input({ configFile: "/missing.json" })))[0]).toContain("cannot be read");
  });

  test("CONFIG_FILE names the file when no flag does", () => {
    const { config, configFile } = loadConfig(
      input({ env: { CONFIG_FILE: "/etc/constellation.json" }, readFile: () => '{"domain":"example.net"}' }),
    );
    expect(configFile).toBe("/etc/constellation.json");
    expect(config.domain).toBe("example.net");
  });

  test("every leaf has an environment variable name", () => {
    const names = schemaLeafPaths().map(envNameOf);
    expect(names).toContain("CONSTELLATION_GOSSIP_PROBE_INTERVAL_MS");
    expect(names).toContain("CONSTELLATION_BOOTSTRAP_EXPECT");
    expect(new Set(names).size).toBe(names.length);
  });
});
