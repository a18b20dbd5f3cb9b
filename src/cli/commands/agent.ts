// `constellation agent`: run the node agent in the foreground until SIGINT or SIGTERM.

import { configFileFlag, configFlags, configOverrides } from "../agent-flags.ts";
import { exitFailure, exitOk, type Command } from "../command.ts";
import { loadConfigFromEnvironment } from "../load-config.ts";
import { Agent } from "../../node/agent.ts";
import { stdoutLogger } from "../../adapters/stdout-log.ts";

export const agentCommand: Command = {
  name: "agent",
  summary: "Run the node agent (gossip, Raft leases, Traefik provider, DNS, Docker health).",
  kind: "action",
  details:
    "With no configuration it runs a one-node cluster on 127.0.0.1: control API on :8080, Traefik provider on\n" +
    ":8081. Logs are JSON lines on stdout. Stop it with Ctrl-C or SIGTERM; it shuts down gracefully.",
  flags: configFlags,
  async run(context) {
    const loaded = loadConfigFromEnvironment(context.env, configOverrides(context), configFileFlag(context));
    const log = stdoutLogger(loaded.config.logLevel);
    const agent = new Agent(loaded, log);
    try {
      await agent.start();
    } catch (error) {
      log.error("agent failed to start", { error: (error as Error).message });
      await agent.stop();
      context.err(`constellation agent: ${(error as Error).message}\n`);
      return exitFailure;
    }
    const stopped = new Promise<void>((resolve) => {
      let stopping = false;
      const onSignal = (signal: string) => {
        if (stopping) return;
        stopping = true;
        log.info("shutting down", { signal });
        void agent.stop().then(resolve);
      };
      process.once("SIGINT", () => onSignal("SIGINT"));
      process.once("SIGTERM", () => onSignal("SIGTERM"));
    });
    await stopped;
    return exitOk;
  },
};
