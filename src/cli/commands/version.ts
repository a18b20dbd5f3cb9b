// `constellation version`: the same line as --version.

import { exitOk, jsonFlag, type Command } from "../command.ts";
import { commit, version, versionLine } from "../../version.ts";

export const versionCommand: Command = {
  name: "version",
  summary: "Print the version, commit and platform.",
  kind: "action",
  flags: [jsonFlag],
  async run(context) {
    if (context.args.flags.get("json")) {
      context.out(`${JSON.stringify({ version, commit, bun: Bun.version, platform: process.platform, arch: process.arch })}\n`);
    } else {
      context.out(`${versionLine()}\n`);
    }
    return exitOk;
  },
};
