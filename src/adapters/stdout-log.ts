// The agent's log destination: JSON lines on stdout, which journald collects.

import { SystemClock } from "./system-clock.ts";
import { Logger, type LogLevel } from "../lib/log.ts";

export function stdoutLogger(level: LogLevel): Logger {
  return new Logger((line) => process.stdout.write(`${line}\n`), new SystemClock(), level);
}
