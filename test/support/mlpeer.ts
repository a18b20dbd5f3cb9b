// The real hashicorp/memberlist node used for interop tests: built once from
// ../shared/tools/mlpeer with Debian's Go packages (cached by the source's
// hash), started as a child process whose JSON-lines output is collected.

import { join } from "node:path";
import { cachedGoTool, type GoTool } from "./go-tool.ts";
import type { Subprocess } from "bun";
import { waitFor } from "./wait.ts";

const sourceDir = join(import.meta.dir, "..", "..", "..", "shared", "tools", "mlpeer");

let built: GoTool | undefined;

/** Path of the mlpeer binary, building it if needed, or the reason it cannot be had. */
export function mlpeerBinary(): GoTool {
  built ??= cachedGoTool(
    "mlpeer",
    [join(sourceDir, "main.go"), join(sourceDir, "build.sh")],
    "apt-get install golang-go golang-github-hashicorp-memberlist-dev",
    (out) => Bun.spawnSync(["sh", join(sourceDir, "build.sh"), out], { stderr: "pipe", stdout: "pipe" }),
  );
  return built;
}

export interface MlpeerEvent {
  event: string;
  ts_us: number;
  [key: string]: unknown;
}

export interface MlpeerMember {
  name: string;
  addr: string;
  port: number;
  state: number;
  meta: { str: string; b64: string; len: number };
  pmin: number;
  pmax: number;
  pcur: number;
}

export class Mlpeer {
  readonly events: MlpeerEvent[] = [];
  stderr = "";
  private constructor(
    readonly process: Subprocess<"ignore", "pipe", "pipe">,
    readonly name: string,
    readonly port: number,
  ) {}

  static start(binary: string, options: { name: string; port: number; args?: string[] }): Mlpeer {
    const child = Bun.spawn(
      [binary, "-bind", "127.0.0.1", "-port", String(options.port), "-name", options.name, ...(options.args ?? [])],
      { stdout: "pipe", stderr: "pipe", stdin: "ignore" },
    );
    const peer = new Mlpeer(child, options.name, options.port);
    void peer.collect();
    return peer;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  private async collect(): Promise<void> {
    const decoder = new TextDecoder();
    let buffer = "";
    const stderrDone = (async () => {
      for await (const chunk of this.process.stderr) this.stderr += decoder.decode(chunk);
    })();
    for await (const chunk of this.process.stdout) {
      buffer += decoder.decode(chunk);
      let newline: number;
      while ((newline = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        try {
          this.events.push(JSON.parse(line) as MlpeerEvent);
        } catch {
          // Not a JSON line: ignore.
        }
      }
    }
    await stderrDone;
  }

  /** The latest "members" line's member list. */
  members(): MlpeerMember[] {
    for (let i = this.events.length - 1; i >= 0; i--) {
      const event = this.events[i]!;
      if (event.event === "members") return event.members as MlpeerMember[];
    }
    return [];
  }

  async waitForEvent(what: string, predicate: (event: MlpeerEvent) => boolean, timeoutMs = 15_000): Promise<MlpeerEvent> {
    return await waitFor(what, () => this.events.find(predicate), timeoutMs);
  }

  async stop(signal: "SIGTERM" | "SIGKILL" = "SIGTERM"): Promise<void> {
    this.process.kill(signal);
    await this.process.exited;
  }
}
