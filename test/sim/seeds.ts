// Running a property over many seeds, and reproducing one. A failing seed is
// printed as `SEED=<n> bun test <file>`; with SEED set only that seed runs.
// SEEDS=<count> changes how many seeds run (the soak scripts raise it).

export function seedsToRun(defaultCount: number, firstSeed = 1): number[] {
  const only = process.env.SEED;
  if (only !== undefined && only !== "") {
    const seed = Number(only);
    if (!Number.isSafeInteger(seed)) throw new Error(`SEED must be an integer, got "${only}"`);
    return [seed];
  }
  const count = process.env.SEEDS ? Number(process.env.SEEDS) : defaultCount;
  return Array.from({ length: count }, (_, i) => firstSeed + i);
}

/** Runs `property` for each seed; on the first failure prints the replay command and rethrows. */
export function forEachSeed(testFile: string, defaultCount: number, property: (seed: number) => void): void {
  for (const seed of seedsToRun(defaultCount)) {
    try {
      property(seed);
    } catch (error) {
      const relative = testFile.includes("/test/") ? `test/${testFile.split("/test/").pop()}` : testFile;
      console.error(`\nSimulation failed. Replay with:\n  SEED=${seed} bun test ${relative}\n`);
      throw error;
    }
  }
}
