// Gossip keyring management on a running agent, through the CLI and the
// control API: key files must be private, changes need the API token, keys
// are never shown.

import { afterAll, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePorts } from "../support/ports.ts";
import { waitFor } from "../support/wait.ts";

const main = join(import.meta.dir, "..", "..", "src", "main.ts");
const dir = mkdtempSync(join(tmpdir(), "constellation-keyring-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function cli(args: string[]) {
  const result = Bun.spawnSync([process.execPath, main, ...args], { stdout: "pipe", stderr: "pipe" });
  return { code: result.exitCode, out: result.stdout.toString(), err: result.stderr.toString() };
}

async function agentArgs(extra: string[]) {
  const [gossip, raft, api, provider] = await freePorts(4);
  return {
    api: api!,
    args: ["agent", "--gossip-port", String(gossip), "--raft-port", String(raft), "--api-port", String(api),
      "--provider-port", String(provider), "--data-dir", join(dir, `data-${api}`), ...extra],
  };
}

test("a key file readable by others is refused at start-up", async () => {
  const keyFile = join(dir, "open.key");
  writeFileSync(keyFile, `${randomBytes(32).toString("base64")}\n`);
  chmodSync(keyFile, 0o644);
  const { args } = await agentArgs(["--gossip-key-file", keyFile]);
  const result = cli(args);
  expect(result.code).toBe(1);
  expect(result.err).toContain(`gossip key file ${keyFile}: is readable by group or others (mode 644)`);
});

test("keys are rotated at run time with the API token, and never printed", async () => {
  const first = randomBytes(32).toString("base64");
  const second = randomBytes(16).toString("base64");
  const keyFile = join(dir, "gossip.key");
  writeFileSync(keyFile, `# cluster key\n${first}\n`, { mode: 0o600 });
  const tokenFile = join(dir, "api-token.txt");
  writeFileSync(tokenFile, `${randomBytes(24).toString("hex")}\n`, { mode: 0o600 });
  const { api, args } = await agentArgs(["--gossip-key-file", keyFile]);
  const agent = Bun.spawn([process.execPath, main, ...args], {
    env: { ...process.env, CONSTELLATION_API_TOKEN_FILE: tokenFile },
    stdout: "pipe",
    stderr: "pipe",
  });
  try {
    const url = `http://127.0.0.1:${api}`;
    await waitFor("agent health", async () => (await fetch(`${url}/health`)).ok || undefined);
    const listed = cli(["keyring", "list", "--api", url, "--json"]);
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.out).keys).toHaveLength(1);
    expect(listed.out).not.toContain(first);

    const malformed = cli(["keyring", "install", second, "--api", url, "--token-file", keyFile]);
    expect(malformed.err).toContain("must hold the API token alone on one line");
    const wrongTokenFile = join(dir, "wrong-token.txt");
    writeFileSync(wrongTokenFile, randomBytes(24).toString("hex"), { mode: 0o600 });
    const denied = cli(["keyring", "install", second, "--api", url, "--token-file", wrongTokenFile]);
    expect(denied.code).toBe(1);
    expect(denied.err).toContain("wrong bearer token");

    expect(cli(["keyring", "install", second, "--api", url, "--token-file", tokenFile]).code).toBe(0);
    const used = cli(["keyring", "use", second, "--api", url, "--token-file", tokenFile, "--json"]);
    expect(used.code).toBe(0);
    const keys = JSON.parse(used.out).keys as Array<{ primary: boolean; bytes: number }>;
    expect(keys.map((k) => [k.primary, k.bytes])).toEqual([[true, 16], [false, 32]]);
    const removePrimary = cli(["keyring", "remove", second, "--api", url, "--token-file", tokenFile]);
    expect(removePrimary.code).toBe(1);
    expect(removePrimary.err).toMatch(/primary/);
    expect(cli(["keyring", "remove", first, "--api", url, "--token-file", tokenFile]).code).toBe(0);
    expect(JSON.parse(cli(["keyring", "--api", url, "--json"]).out).keys).toHaveLength(1);
  } finally {
    agent.kill("SIGTERM");
    await agent.exited;
  }
  const log = await new Response(agent.stdout).text();
  expect(log).not.toContain(first);
  expect(log).not.toContain(second);
  expect(log).toContain('"msg":"keyring changed"');
});
