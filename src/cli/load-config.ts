// Loading the configuration for a CLI process: the real environment, file
// system and host facts handed to the pure loader.

import { readFileSync } from "node:fs";
import { hostname, homedir } from "node:os";
import { loadConfig, type LoadedConfig } from "../config/load.ts";

export function loadConfigFromEnvironment(
  env: Record<string, string | undefined>,
  flags: Record<string, string | string[] | boolean | number>,
  configFile?: string,
): LoadedConfig {
  return loadConfig({
    flags,
    configFile,
    env,
    readFile: (path) => readFileSync(path, "utf8"),
    hostname: hostname(),
    isRoot: typeof process.getuid === "function" && process.getuid() === 0,
    homeDir: homedir(),
  });
}
