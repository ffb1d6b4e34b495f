// The version `brupop --version` prints: package.json's, which a bundle of the CLI carries as BRUPOP_VERSION
// (scripts/cli defines it), and which a checkout reads from the file.
import { readFileSync } from "node:fs";

declare const BRUPOP_VERSION: string | undefined;

export function cliVersion(): string {
  if (typeof BRUPOP_VERSION === "string") return BRUPOP_VERSION;
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}
