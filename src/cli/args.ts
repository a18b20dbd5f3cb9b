// Command-line flag parsing against a declared list of flags. Unknown flags,
// missing values and malformed numbers are usage errors (exit code 2) with a
// message that names the flag; nothing is guessed.

export type FlagKind = "string" | "integer" | "boolean" | "list";

export interface FlagSpec {
  name: string;
  kind: FlagKind;
  description: string;
  /** Placeholder shown in help, e.g. "PATH". */
  value?: string;
  /** The configuration key this flag sets, for agent flags. */
  configPath?: string;
}

export class UsageError extends Error {
  override name = "UsageError";
}

export interface ParsedArgs {
  flags: Map<string, string | number | boolean | string[]>;
  positionals: string[];
}

/** Arguments longer than this are refused: nothing legitimate is that long. */
const argumentLengthMax = 65_536;

export function parseArgs(argv: readonly string[], specs: readonly FlagSpec[]): ParsedArgs {
  const byName = new Map(specs.map((spec) => [spec.name, spec]));
  const flags = new Map<string, string | number | boolean | string[]>();
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg.length > argumentLengthMax) throw new UsageError(`argument ${i + 1} is longer than ${argumentLengthMax} characters`);
    if (arg === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith("--") || arg === "--") {
      if (arg.startsWith("-") && arg.length > 1) {
        if (arg === "-h") {
          flags.set("help", true);
          continue;
        }
        throw new UsageError(`unknown flag ${arg} (flags are written --name)`);
      }
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const spec = byName.get(name);
    if (!spec) throw new UsageError(`unknown flag --${name}${suggest(name, specs)}`);
    let raw: string | undefined = eq < 0 ? undefined : arg.slice(eq + 1);
    if (spec.kind === "boolean") {
      if (raw === undefined) flags.set(name, true);
      else if (raw === "true" || raw === "false") flags.set(name, raw === "true");
      else throw new UsageError(`--${name} takes no value, or =true / =false; got "${raw}"`);
      continue;
    }
    if (raw === undefined) {
      raw = argv[i + 1];
      if (raw === undefined || (raw.startsWith("--") && raw.length > 2)) {
        throw new UsageError(`--${name} needs a value (${spec.value ?? spec.kind})`);
      }
      i++;
    }
    flags.set(name, convert(spec, raw));
  }
  return { flags, positionals };
}

function convert(spec: FlagSpec, raw: string): string | number | string[] {
  switch (spec.kind) {
    case "integer":
      if (!/^-?\d+$/.test(raw)) throw new UsageError(`--${spec.name} expects an integer, got "${raw}"`);
      return Number(raw);
    case "list":
      return raw
        .split(",")
        .map((item) => item.trim())
        .filter((item) => item !== "");
    case "string":
      return raw;
    case "boolean":
      throw new UsageError(`--${spec.name} is a switch`);
  }
}

function suggest(name: string, specs: readonly FlagSpec[]): string {
  const close = specs.find((spec) => spec.name.startsWith(name) || name.startsWith(spec.name));
  return close ? ` (did you mean --${close.name}?)` : "";
}
