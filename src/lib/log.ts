// Structured logging: one JSON object per line, with a level, a message and
// fields. Secrets never reach a log line: any field whose name looks like a
// credential is replaced by "[redacted]", and values registered as secrets at
// start-up (tokens, keys read from files) are masked wherever they appear in
// strings. The sink and the clock are injected, so cores can log into memory
// in the simulator and the agent logs to stdout.

import type { Clock } from "./clock.ts";

export const logLevels = ["debug", "info", "warn", "error"] as const;
export type LogLevel = (typeof logLevels)[number];

const levelRank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Field names whose values are always redacted. */
const secretFieldPattern = /(token|secret|password|passwd|api[_-]?key|private[_-]?key|authorization|gossip[_-]?key|keyring)/i;
/** Fields that name where a secret is kept (a file path) rather than the secret itself. */
const secretLocationPattern = /(file|path|dir)$/i;
const redacted = "[redacted]";
/** Nesting limit when serialising fields, so a cyclic or huge object cannot stall logging. */
const fieldDepthMax = 6;
/** Longest string kept in a field; longer ones are cut, with a note of the original length. */
const fieldStringMax = 4096;

export type LogFields = Record<string, unknown>;
export type LogSink = (line: string) => void;

/** Secret values seen at run time; shared by all loggers of the process. */
export class SecretRegistry {
  private readonly values = new Set<string>();

  add(value: string): void {
    // Very short values would mask ordinary words; real secrets are long.
    if (value.length >= 8) this.values.add(value);
  }

  mask(text: string): string {
    let out = text;
    for (const secret of this.values) {
      if (out.includes(secret)) out = out.split(secret).join(redacted);
    }
    return out;
  }
}

export class Logger {
  constructor(
    private readonly sink: LogSink,
    private readonly clock: Pick<Clock, "wallMs">,
    private readonly minLevel: LogLevel = "info",
    private readonly context: LogFields = {},
    private readonly secrets: SecretRegistry = new SecretRegistry(),
  ) {}

  /** A logger that adds `fields` to every line (e.g. the component name). */
  child(fields: LogFields): Logger {
    return new Logger(this.sink, this.clock, this.minLevel, { ...this.context, ...fields }, this.secrets);
  }

  registerSecret(value: string): void {
    this.secrets.add(value);
  }

  enabled(level: LogLevel): boolean {
    return levelRank[level] >= levelRank[this.minLevel];
  }

  debug(msg: string, fields?: LogFields): void {
    this.write("debug", msg, fields);
  }
  info(msg: string, fields?: LogFields): void {
    this.write("info", msg, fields);
  }
  warn(msg: string, fields?: LogFields): void {
    this.write("warn", msg, fields);
  }
  error(msg: string, fields?: LogFields): void {
    this.write("error", msg, fields);
  }

  private write(level: LogLevel, msg: string, fields?: LogFields): void {
    if (!this.enabled(level)) return;
    const record: LogFields = {
      ts: new Date(this.clock.wallMs()).toISOString(),
      level,
      msg: this.secrets.mask(msg),
    };
    for (const [key, value] of Object.entries({ ...this.context, ...fields })) {
      if (key === "ts" || key === "level" || key === "msg") continue;
      record[key] = this.clean(key, value, 0);
    }
    this.sink(JSON.stringify(record));
  }

  private clean(key: string, value: unknown, depth: number): unknown {
    if (secretFieldPattern.test(key) && !secretLocationPattern.test(key)) return value === undefined || value === "" ? value : redacted;
    if (typeof value === "string") {
      const masked = this.secrets.mask(value);
      return masked.length > fieldStringMax
        ? `${masked.slice(0, fieldStringMax)}...[${masked.length} chars]`
        : masked;
    }
    if (value instanceof Error) return this.secrets.mask(value.message);
    if (typeof value === "bigint") return value.toString();
    if (value === null || typeof value !== "object") return value;
    if (depth >= fieldDepthMax) return "[too deep]";
    if (Array.isArray(value)) return value.map((item) => this.clean("", item, depth + 1));
    const out: LogFields = {};
    for (const [k, v] of Object.entries(value)) out[k] = this.clean(k, v, depth + 1);
    return out;
  }
}
