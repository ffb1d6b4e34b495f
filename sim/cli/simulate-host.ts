// `brupop simulate-host`: one simulated Bottlerocket host serving the update API on a Unix socket, so the agent,
// `brupop apiclient raw` or Bottlerocket's own apiclient (`apiclient -s <socket> ...`) can drive it.
import { Command, InvalidArgumentError, Option } from "@commander-js/extra-typings";
import { isSemVer, parseVersionLock } from "../../src/host/semver.ts";
import { DURATION_PROFILES, type DurationProfile, type HostDurations } from "../host/durations.ts";
import { FAULT_SPEC_HELP, parseFaultSpec, type ArmedFault } from "../host/faults.ts";

function version(value: string): string {
  if (!isSemVer(value)) throw new InvalidArgumentError("expected a full version such as 1.26.0");
  return value;
}

function versions(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), ...value.split(",").map((v) => version(v.trim()))];
}

function fault(value: string, previous: ArmedFault[] | undefined): ArmedFault[] {
  try {
    return [...(previous ?? []), parseFaultSpec(value)];
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message.split("\n")[0] ?? "invalid fault");
  }
}

function milliseconds(value: string): number {
  const ms = Number(value);
  if (!Number.isInteger(ms) || ms < 0) throw new InvalidArgumentError("expected a non-negative integer (milliseconds)");
  return ms;
}

function seed(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 2047) throw new InvalidArgumentError("expected an integer in 0..2047");
  return n;
}

function versionLock(value: string): string {
  if (parseVersionLock(value) === null)
    throw new InvalidArgumentError('expected "latest" or a full version such as v1.26.1');
  return value;
}

function timeOfDay(at: number): string {
  return new Date(at).toISOString().slice(11, 23);
}

export function simulateHostCommand() {
  const command = new Command("simulate-host")
    .description("serve a simulated Bottlerocket host update API on a Unix socket (runs until Ctrl-C)")
    .requiredOption("--socket <path>", "Unix socket to listen on (a fresh path; a live socket is never replaced)")
    .requiredOption("--version <version>", "running Bottlerocket version", version)
    .option("--offer <versions>", "published versions the host can update to (repeatable or comma-separated)", versions)
    .option("--previous-version <version>", "version left on the other partition set by an earlier update", version)
    .option("--fail <fault>", "inject a fault (repeatable; see below)", fault)
    .addOption(
      new Option("--profile <profile>", "duration profile")
        .choices(Object.keys(DURATION_PROFILES) as DurationProfile[])
        .default("demo"),
    )
    .option("--variant <variant>", "Bottlerocket variant", "aws-k8s-1.30")
    .addOption(
      new Option("--arch <arch>", "architecture").choices(["x86_64", "aarch64"] as const).default("x86_64" as const),
    )
    .option("--version-lock <lock>", "settings.updates.version-lock: latest or an exact version", versionLock, "latest")
    .option("--ignore-waves", "settings.updates.ignore-waves: see releases before this host's wave")
    .option("--seed <n>", "settings.updates.seed (0..2047), this host's place in the waves", seed)
    .option(
      "--boot-id-file <path>",
      "file given a fresh UUID at every boot (stands in for /proc/sys/kernel/random/boot_id)",
    )
    .option("-q, --quiet", "do not log events")
    .option("--log-requests", "also log every HTTP request")
    .option("--refresh-ms <ms>", "how long refresh-updates runs (overrides the profile)", milliseconds)
    .option("--prepare-ms <ms>", "how long prepare-update runs, i.e. the download", milliseconds)
    .option("--activate-ms <ms>", "how long activate-update runs", milliseconds)
    .option("--deactivate-ms <ms>", "how long deactivate-update runs", milliseconds)
    .option("--shutdown-ms <ms>", "reboot 204 until the API goes down", milliseconds)
    .option("--socket-linger-ms <ms>", "API down until the socket file goes (ECONNREFUSED meanwhile)", milliseconds)
    .option("--reboot-ms <ms>", "API down until it is up again after a good boot", milliseconds)
    .option("--failed-boot-ms <ms>", "extra downtime of a boot that fails and rolls back", milliseconds);
  return command
    .addHelpText(
      "after",
      `
Durations (ms) per profile:
${Object.entries(DURATION_PROFILES)
  .map(
    ([name, d]) =>
      `  ${name.padEnd(10)} refresh ${d.refreshMs}, prepare ${d.prepareMs}, activate ${d.activateMs}, reboot ${d.rebootMs}`,
  )
  .join("\n")}

${FAULT_SPEC_HELP}

Examples:
  brupop simulate-host --socket /tmp/host1.sock --version 1.25.0 --offer 1.26.0
  brupop simulate-host --socket /tmp/host1.sock --version 1.25.0 --offer 1.26.0,1.26.1 --fail prepare --fail boot
  brupop apiclient raw -s /tmp/host1.sock -u /actions/refresh-updates -m POST
  brupop apiclient raw -s /tmp/host1.sock -u /updates/status`,
    )
    .action(async (opts) => {
      const { startSimulatedHost } = await import("../host/simulated-host.ts");
      const durations: Partial<HostDurations> = {
        refreshMs: opts.refreshMs,
        prepareMs: opts.prepareMs,
        activateMs: opts.activateMs,
        deactivateMs: opts.deactivateMs,
        shutdownMs: opts.shutdownMs,
        socketLingerMs: opts.socketLingerMs,
        rebootMs: opts.rebootMs,
        failedBootMs: opts.failedBootMs,
      };
      const host = await startSimulatedHost({
        socketPath: opts.socket,
        version: opts.version,
        offer: opts.offer ?? [],
        profile: opts.profile,
        durations,
        faults: opts.fail ?? [],
        variant: opts.variant,
        arch: opts.arch,
        settings: {
          versionLock: opts.versionLock,
          ignoreWaves: opts.ignoreWaves === true,
          ...(opts.seed === undefined ? {} : { seed: opts.seed }),
        },
        ...(opts.previousVersion === undefined ? {} : { previousVersion: opts.previousVersion }),
        ...(opts.bootIdFile === undefined ? {} : { bootIdPath: opts.bootIdFile }),
      }).catch((error: unknown) =>
        command.error(`simulate-host: ${error instanceof Error ? error.message : String(error)}`),
      );
      const log = (at: number, text: string): void => {
        if (!opts.quiet) process.stderr.write(`${timeOfDay(at)} ${text}\n`);
      };
      host.onAny((event) => {
        switch (event.type) {
          case "request":
            if (opts.logRequests) log(event.at, `${event.method} ${event.url} -> ${event.outcome}`);
            return;
          case "command-started":
            log(event.at, `${event.command} started (update lock held)`);
            return;
          case "command-finished":
            log(
              event.at,
              event.result === null
                ? `${event.command} killed: nothing recorded`
                : `${event.command} ${event.result.cmd_status}${event.result.stderr ? `: ${event.result.stderr.trim().replace(/\n/g, " | ")}` : ""}`,
            );
            return;
          case "reboot-requested":
            log(event.at, `reboot requested; API goes down in ${Math.round(event.downAt - event.at)} ms`);
            return;
          case "api-down":
            log(event.at, `API down${event.keepSocketFile ? " (socket file lingers)" : ""}`);
            return;
          case "socket-removed":
            log(event.at, "socket file removed");
            return;
          case "boot-failed":
            log(event.at, `boot of ${event.version ?? "nothing"} failed (${event.mode})`);
            return;
          case "api-up":
            log(
              event.at,
              `booted ${event.version}${event.rolledBack ? " (rolled back)" : ""}, boot #${event.bootCount}, API up`,
            );
            return;
          case "error":
            log(event.at, `error: ${event.message}`);
            return;
        }
      });
      const { variant, arch, settings } = host.state.disk;
      process.stderr.write(
        `simulated Bottlerocket ${host.runningVersion} (${variant}, ${arch}) on ${host.socketPath}; ` +
          `offers ${(opts.offer ?? []).join(", ") || "nothing newer"}; version-lock ${settings.versionLock}, seed ${settings.seed}; ` +
          `profile ${opts.profile}. Ctrl-C to stop.\n`,
      );
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          process.off("SIGINT", stop);
          process.off("SIGTERM", stop);
          resolve();
        };
        process.on("SIGINT", stop);
        process.on("SIGTERM", stop);
      });
      await host.stop();
    });
}
