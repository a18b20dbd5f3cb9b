// Version and commit of this build. build.ts embeds both with `--define`;
// when run from source the version comes from package.json and the commit is
// reported as "source".

import packageJson from "../package.json" with { type: "json" };

declare const CONSTELLATION_BUILD_COMMIT: string | undefined;
declare const CONSTELLATION_BUILD_VERSION: string | undefined;

export const version: string =
  typeof CONSTELLATION_BUILD_VERSION === "string" ? CONSTELLATION_BUILD_VERSION : packageJson.version;
export const commit: string = typeof CONSTELLATION_BUILD_COMMIT === "string" ? CONSTELLATION_BUILD_COMMIT : "source";

export function versionLine(): string {
  return `constellation ${version} (commit ${commit}, bun ${Bun.version}, ${process.platform}/${process.arch})`;
}
