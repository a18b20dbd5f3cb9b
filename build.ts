// Release build: one self-contained executable per target with `bun build
// --compile`, the version and git commit embedded, a SHA256SUMS file, and
// the size of each binary printed.
//
//   bun build.ts            all four Linux targets
//   bun build.ts --host     only the target of this machine (fast; used by CI)
//   bun build.ts --target bun-linux-arm64 [--target ...]

import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import packageJson from "./package.json" with { type: "json" };

const allTargets = ["bun-linux-x64", "bun-linux-arm64", "bun-linux-x64-musl", "bun-linux-arm64-musl"] as const;
type Target = (typeof allTargets)[number];

function hostTarget(): Target {
  const arch = process.arch === "arm64" ? "arm64" : process.arch === "x64" ? "x64" : undefined;
  if (process.platform !== "linux" || !arch) {
    throw new Error(`no Linux target for this host (${process.platform}/${process.arch})`);
  }
  // A musl host (Alpine) has no glibc loader; the musl build is the one that runs there.
  const musl = !existsGlibc();
  return `bun-linux-${arch}${musl ? "-musl" : ""}` as Target;
}

function existsGlibc(): boolean {
  try {
    return statSync(process.arch === "arm64" ? "/lib/ld-linux-aarch64.so.1" : "/lib64/ld-linux-x86-64.so.2").isFile();
  } catch {
    return false;
  }
}

function gitCommit(): string {
  const result = Bun.spawnSync(["git", "rev-parse", "--short=12", "HEAD"], { stderr: "ignore" });
  if (result.exitCode !== 0) return "unknown";
  const dirty = Bun.spawnSync(["git", "status", "--porcelain", "--untracked-files=no"], { stderr: "ignore" });
  const suffix = dirty.exitCode === 0 && dirty.stdout.toString().trim() !== "" ? "-dirty" : "";
  return `${result.stdout.toString().trim()}${suffix}`;
}

function parseTargets(argv: string[]): Target[] {
  if (argv.includes("--host")) return [hostTarget()];
  const chosen: Target[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--target") {
      const value = argv[++i];
      if (!allTargets.includes(value as Target)) {
        throw new Error(`unknown target "${value}"; choose from ${allTargets.join(", ")}`);
      }
      chosen.push(value as Target);
    } else {
      throw new Error(`unknown argument "${argv[i]}"; usage: bun build.ts [--host | --target T ...]`);
    }
  }
  return chosen.length > 0 ? chosen : [...allTargets];
}

function outputName(target: Target): string {
  return `constellation-${target.replace(/^bun-/, "")}`;
}

async function main(): Promise<void> {
  const targets = parseTargets(process.argv.slice(2));
  const commit = gitCommit();
  const version = packageJson.version;
  mkdirSync("dist", { recursive: true });
  const sums: string[] = [];
  console.log(`building constellation ${version} (commit ${commit}) for ${targets.join(", ")}`);
  for (const target of targets) {
    const outfile = `dist/${outputName(target)}`;
    const started = performance.now();
    const build = Bun.spawnSync(
      [
        process.execPath,
        "build",
        "src/main.ts",
        "--compile",
        "--minify",
        "--sourcemap",
        `--target=${target}`,
        `--outfile=${outfile}`,
        // dockerode's SSH transport (ssh2) optionally loads this native module
        // inside a try/catch; it is never built here and the agent does not use
        // SSH to reach Docker, so it stays out of the bundle.
        "--external=cpu-features",
        `--define=CONSTELLATION_BUILD_VERSION=${JSON.stringify(version)}`,
        `--define=CONSTELLATION_BUILD_COMMIT=${JSON.stringify(commit)}`,
      ],
      { stdout: "pipe", stderr: "pipe" },
    );
    if (build.exitCode !== 0) {
      process.stderr.write(build.stdout.toString() + build.stderr.toString());
      throw new Error(`build for ${target} failed with exit code ${build.exitCode}`);
    }
    const bytes = readFileSync(outfile);
    const digest = createHash("sha256").update(bytes).digest("hex");
    sums.push(`${digest}  ${outputName(target)}`);
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    console.log(`  ${outfile.padEnd(44)} ${(bytes.length / 1024 / 1024).toFixed(1).padStart(6)} MiB  (${seconds} s)`);
  }
  writeFileSync("dist/SHA256SUMS", `${sums.join("\n")}\n`);
  console.log("  dist/SHA256SUMS");
}

main().catch((error: Error) => {
  console.error(`build.ts: ${error.message}`);
  process.exit(1);
});
