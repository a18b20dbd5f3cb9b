import { describe, expect, test } from "bun:test";
import { runCli } from "../../src/cli/run.ts";
import { commands } from "../../src/cli/registry.ts";
import { parseArgs, UsageError } from "../../src/cli/args.ts";
import { version } from "../../src/version.ts";
import { flagsOf } from "../../src/cli/command.ts";

async function cli(argv: string[], env: Record<string, string | undefined> = {}) {
  let out = "";
  let err = "";
  const code = await runCli(argv, { out: (t) => (out += t), err: (t) => (err += t), env });
  return { code, out, err };
}

describe("CLI", () => {
  test("--version prints the version", async () => {
    const { code, out } = await cli(["--version"]);
    expect(code).toBe(0);
    expect(out).toStartWith(`constellation ${version} (commit `);
  });

  test("no command prints help and exits 2; --help exits 0", async () => {
    expect((await cli([])).code).toBe(2);
    const help = await cli(["--help"]);
    expect(help.code).toBe(0);
    for (const command of commands) expect(help.out).toContain(command.name);
  });

  test.each(commands.map((c) => [c.name]))("%s --help documents its flags", async (name) => {
    const { code, out } = await cli([...name.split(" "), "--help"]);
    expect(code).toBe(0);
    expect(out).toContain(`Usage: constellation ${name}`);
    expect(out).toContain("--help");
  });

  test("every read command takes --json and --api", () => {
    const reads = commands.filter((c) => c.kind === "read");
    expect(reads.map((c) => c.name)).toContain("status");
    for (const command of reads) {
      const parsed = parseArgs(["--json", "--api", "http://127.0.0.1:1"], flagsOf(command));
      expect(parsed.flags.get("json")).toBe(true);
      expect(parsed.flags.get("api")).toBe("http://127.0.0.1:1");
    }
  });

  test("the agent accepts the documented flags", async () => {
    const { out } = await cli(["agent", "--help"]);
    for (const flag of ["config", "node-name", "bind-addr", "advertise-addr", "gossip-port", "raft-port", "api-port",
      "provider-port", "join", "data-dir", "domain", "bootstrap-expect", "priority", "gossip-key-file"]) {
      expect(out).toContain(`--${flag} `);
    }
  });

  test("usage errors exit 2 and name the problem", async () => {
    const unknownCommand = await cli(["frobnicate"]);
    expect(unknownCommand.code).toBe(2);
    expect(unknownCommand.err).toContain('unknown command "frobnicate"');
    const unknownFlag = await cli(["status", "--jsn"]);
    expect(unknownFlag.code).toBe(2);
    expect(unknownFlag.err).toContain("unknown flag --jsn");
    const missingValue = await cli(["agent", "--gossip-port"]);
    expect(missingValue.code).toBe(2);
    expect(missingValue.err).toContain("--gossip-port needs a value");
    const badInteger = await cli(["config", "check", "--priority", "high"]);
    expect(badInteger.code).toBe(2);
    expect(badInteger.err).toContain('--priority expects an integer, got "high"');
    const partial = await cli(["raft"]);
    expect(partial.err).toContain("raft peers");
    expect((await cli(["status", "--api", "ftp://x"])).code).toBe(2);
  });

  test("commands not built yet say so and exit 1", async () => {
    const { code, err } = await cli(["deploy", "stack.ts"]);
    expect(code).toBe(1);
    expect(err).toContain("not available in this version yet");
  });

  test("an unreachable agent is a clear failure, not a crash", async () => {
    const { code, err } = await cli(["status", "--api", "http://127.0.0.1:1"]);
    expect(code).toBe(1);
    expect(err).toContain("cannot reach the agent at http://127.0.0.1:1");
  });

  test("config check reports an invalid value with key, source and expectation", async () => {
    const { code, err } = await cli(["config", "check"], { BIND_PORT: "abc" });
    expect(code).toBe(1);
    expect(err).toContain('gossipPort = "abc" (from environment variable BIND_PORT): expected an integer from 1 to 65535');
  });

  test("config check prints effective values with sources", async () => {
    const { code, out } = await cli(["config", "check", "--json", "--domain", "example.org"], { SECRETS_PATH: "/nonexistent" });
    expect(code).toBe(0);
    const parsed = JSON.parse(out);
    expect(parsed.config.domain).toBe("example.org");
    expect(parsed.sources.domain).toBe("flag --domain");
    expect(parsed.secret_files["cloudflare.apiTokenFile"]).toBe("absent");
  });

  test("keygen prints a 32-byte base64 key", async () => {
    const { code, out } = await cli(["keygen"]);
    expect(code).toBe(0);
    expect(Buffer.from(out.trim(), "base64")).toHaveLength(32);
  });

  test("flag parser: = form, lists, switches", () => {
    const parsed = parseArgs(["--join=a:1,b:2", "--json", "pos", "--api", "http://x"], [
      { name: "join", kind: "list", description: "" },
      { name: "json", kind: "boolean", description: "" },
      { name: "api", kind: "string", description: "" },
    ]);
    expect(parsed.flags.get("join")).toEqual(["a:1", "b:2"]);
    expect(parsed.flags.get("json")).toBe(true);
    expect(parsed.positionals).toEqual(["pos"]);
    expect(() => parseArgs(["--json=maybe"], [{ name: "json", kind: "boolean", description: "" }])).toThrow(UsageError);
  });
});
