#!/usr/bin/env bun
// Entry point of the constellation binary: the agent and the operator CLI.

import { runCli } from "./cli/run.ts";

const code = await runCli(process.argv.slice(2), {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  env: process.env,
});
process.exit(code);
