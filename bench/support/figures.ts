// Small helpers the benchmarks share to turn samples into printed figures:
// nearest-rank percentiles, a p50 / p99 / max summary, and fixed-width table
// rows; and to read their command-line flags. Nothing here judges a figure;
// the benchmarks only print them.

import { assert } from "../../src/lib/assert.ts";

/** Nearest-rank percentile of ascending `sorted`; NaN when there are no samples. */
export function percentile(sorted: readonly number[], p: number): number {
  assert(p > 0 && p <= 100, `percentile ${p} out of (0, 100]`);
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export interface Summary {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

export function summarise(samples: readonly number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  return { count: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] ?? Number.NaN };
}

/** "p50 / p99 / max" with `digits` decimals, or "-" without samples. */
export function triple(summary: Summary, digits = 0): string {
  if (summary.count === 0) return "-";
  return tripleCells(summary, digits).join(" / ");
}

/** p50, p99 and max with `digits` decimals as three table cells, each "-" without samples. */
export function tripleCells(summary: Summary, digits = 0): string[] {
  if (summary.count === 0) return ["-", "-", "-"];
  return [summary.p50, summary.p99, summary.max].map((value) => value.toFixed(digits));
}

/** One row of a Markdown table whose cells are padded to `widths` (left-aligned first cell, right-aligned others). */
export function tableRow(cells: readonly string[], widths: readonly number[]): string {
  assert(cells.length === widths.length, `${cells.length} cells for ${widths.length} columns`);
  return `| ${cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join(" | ")} |`;
}

/** The rule under a Markdown table's header row: each column's width in dashes. */
export function tableRule(widths: readonly number[]): string {
  return `| ${widths.map((width) => "-".repeat(width)).join(" | ")} |`;
}

/** The value of `--name <value>` on the command line, or `fallback`. */
export function flag(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? (process.argv[index + 1] ?? fallback) : fallback;
}

/** A whole-number flag held to [min, max], so a typo cannot start a run of hours; exits with status 2 otherwise. */
export function boundedFlag(name: string, fallback: number, min: number, max: number): number {
  const value = Number(flag(name, String(fallback)));
  if (!Number.isInteger(value) || value < min || value > max) {
    console.error(`--${name}: expected a whole number from ${min} to ${max}`);
    process.exit(2);
  }
  return value;
}

/** A "low-high" range flag such as "0.1-0.5"; a single number means low = high. */
export function rangeFlag(name: string, fallback: string): { low: number; high: number } {
  const text = flag(name, fallback);
  const [low, high = low] = text.split("-").map(Number) as [number, number?];
  if (!Number.isFinite(low) || !Number.isFinite(high) || low < 0 || high < low) {
    throw new Error(`--${name} ${text}: expected "low-high" with 0 <= low <= high`);
  }
  return { low, high };
}
