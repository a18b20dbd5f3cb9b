// The architecture's boundary: protocol cores import no I/O, no runtime
// APIs and no adapters, so the same code runs in the simulator and in
// production. A core file may import only other core folders and TypeBox.

import { expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync, existsSync } from "node:fs";
import { join, relative } from "node:path";

const root = join(import.meta.dir, "..", "..", "src");
const coreFolders = ["lib", "state", "gossip", "raft", "lease", "routing", "dns", "config", "docker"];
const forbiddenModules = [/^bun(:|$)/, /^node:/, /^elysia/, /^dockerode/, /^cloudflare/];
const forbiddenFolders = ["adapters", "api", "cli", "node", "discovery", "sdk"];
const forbiddenGlobals = [/\bDate\.now\s*\(/, /\bperformance\.now\s*\(/, /\bMath\.random\s*\(/, /\bsetTimeout\s*\(/, /\bsetInterval\s*\(/, /\bBun\./, /\bprocess\./, /\bfetch\s*\(/];

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : path.endsWith(".ts") ? [path] : [];
  });
}

function importsOf(source: string): string[] {
  const specifiers: string[] = [];
  const pattern = /(?:import|export)\s+(?:[^'"]*?\sfrom\s+)?["']([^"']+)["']|import\s*\(\s*["']([^"']+)["']\s*\)|require\s*\(\s*["']([^"']+)["']\s*\)/g;
  for (const match of source.matchAll(pattern)) specifiers.push(match[1] ?? match[2] ?? match[3]!);
  return specifiers;
}

/** Source without comments, so prose that mentions Date.now is not a violation. */
function code(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:])\/\/.*$/gm, "$1");
}

test("core folders import nothing from runtimes, I/O libraries or shells", () => {
  const violations: string[] = [];
  const coreFiles = coreFolders.flatMap((folder) => filesUnder(join(root, folder)));
  expect(coreFiles.length).toBeGreaterThan(5);
  for (const file of coreFiles) {
    const source = readFileSync(file, "utf8");
    const name = relative(root, file);
    for (const specifier of importsOf(source)) {
      if (forbiddenModules.some((pattern) => pattern.test(specifier))) violations.push(`${name} imports ${specifier}`);
      if (specifier.startsWith(".")) {
        const target = relative(root, join(file, "..", specifier));
        const top = target.split("/")[0]!;
        if (forbiddenFolders.includes(top)) violations.push(`${name} imports ${target} (a shell/adapter folder)`);
      }
    }
    for (const pattern of forbiddenGlobals) {
      if (pattern.test(code(source))) violations.push(`${name} uses ${pattern.source.replace(/\\/g, "")}`);
    }
  }
  expect(violations).toEqual([]);
});

test("the checker itself catches a forbidden import", () => {
  expect(importsOf('import { x } from "node:fs";\nimport type { Y } from "../adapters/z.ts";')).toEqual(["node:fs", "../adapters/z.ts"]);
  expect(forbiddenGlobals.some((p) => p.test(code("const t = Date.now();")))).toBe(true);
  expect(forbiddenGlobals.some((p) => p.test(code("// Date.now() is not used here")))).toBe(false);
});
