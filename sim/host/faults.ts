// Failure injection for the simulated host (docs/design/host-api.md#failure-modes). Each fault reproduces a real-world
// effect; the state machine consumes armed faults as matching events happen.
import { COMMAND_TYPES, type CommandType } from "../../src/host/types.ts";
import { isSemVer } from "../../src/host/semver.ts";

export type HostFault =
  /**
   * The command runs and fails: `cmd_status` Failed, exit 1, updog-like stderr. State effects per
   * docs/design/host-api.md#transitions.
   */
  | { target: CommandType; effect: "fail"; stderr?: string }
  /** The command never finishes: the lock stays held (GETs answer 423) until a reboot or reset. */
  | { target: CommandType; effect: "hang" }
  /** The command's process dies (OOM, kill): the lock is released and nothing is recorded. */
  | { target: CommandType; effect: "die" }
  /** The command takes this long instead of its configured duration. */
  | { target: CommandType; effect: "slow"; durationMs: number }
  /** Actions answer 500 `Update dispatcher failed`. */
  | { target: "dispatcher"; effect: "fail" }
  /** `POST /actions/reboot` answers 500 (a block inhibitor). */
  | { target: "reboot"; effect: "refuse" }
  /** The reboot happens but its 204 is lost: the connection is reset with no status line. */
  | { target: "reboot"; effect: "drop-response" }
  /** The API keeps answering this long after the 204 before going down (delay inhibitors, up to 300 s). */
  | { target: "reboot"; effect: "delay"; durationMs: number }
  /** The next trial boot of a not-yet-successful partition set fails: a kernel panic reboots into the old set
   * (`panic`), or the boot hangs with no API until an external reset (`hang`). Optionally only for one version. */
  | { target: "boot"; effect: "panic" | "hang"; version?: string }
  /** Requests are accepted but never answered (a wedged apiserver). */
  | { target: "api"; effect: "stall" }
  /** Applied at once: the status file becomes unreadable (GET status and actions answer 500) until a reboot. */
  | { target: "status"; effect: "corrupt" }
  /** One read of `GET /updates/status` fails: a 500 (`error`), or a 200 whose body is cut short (`garbage`). */
  | { target: "status-read"; effect: "error" | "garbage" }
  /** Applied at once: another reader holds the shared lock for this long, so POSTs answer 423 (GETs still work). */
  | { target: "lock"; effect: "hold-shared"; durationMs: number };

export interface ArmedFault {
  fault: HostFault;
  /** How many more times it fires; Infinity for always. */
  remaining: number;
}

const COMMAND_EFFECTS = ["fail", "hang", "die", "slow"] as const;

function isCommand(text: string): text is CommandType {
  return (COMMAND_TYPES as readonly string[]).includes(text);
}

function duration(text: string | undefined, spec: string): number {
  const ms = Number(text);
  if (text === undefined || text === "" || !Number.isInteger(ms) || ms < 0) {
    throw new Error(
      `fault ${JSON.stringify(spec)}: expected a duration in milliseconds, got ${JSON.stringify(text ?? "")}`,
    );
  }
  return ms;
}

function command(text: string | undefined, spec: string): CommandType {
  const name = text ?? "prepare";
  if (!isCommand(name))
    throw new Error(
      `fault ${JSON.stringify(spec)}: unknown command ${JSON.stringify(name)} (${COMMAND_TYPES.join(", ")})`,
    );
  return name;
}

export const FAULT_SPEC_HELP = `Fault specs (repeatable; append @N to fire N times or @always, default once):
  refresh | prepare | activate | deactivate   the command runs and fails
  hang[:<command>]                            the command never finishes (default prepare); lock held until reboot
  die:<command>                               the command's process dies; lock released, nothing recorded
  slow:<command>:<ms>                         the command takes <ms>
  dispatcher                                  actions answer 500 "Update dispatcher failed"
  reboot                                      reboot refused: 500 "Failed to reboot, exit code: 1, ..."
  reboot-drop                                 reboot happens but its 204 is lost (connection reset)
  reboot-delay:<ms>                           API keeps answering <ms> after the reboot 204
  boot[:<version>]                            the new version panics at boot; GRUB rolls back to the old one
  boot-hang[:<version>]                       the new version hangs at boot; no API until an external reset
  stall                                       requests are accepted but never answered
  status-corrupt                              GET /updates/status answers 500 until the next reboot (at once)
  status-500                                  one GET /updates/status answers 500 (e.g. status-500@10: ten reads)
  status-garbage                              one GET /updates/status answers 200 with a body cut short
  contention:<ms>                             a reader holds the shared lock; POSTs answer 423 (at once)`;

/** Parses one `--fail` spec (see FAULT_SPEC_HELP). Throws an Error with a clear message on bad input. */
export function parseFaultSpec(spec: string): ArmedFault {
  const [body = "", times, extra] = spec.trim().split("@");
  if (extra !== undefined) throw new Error(`fault ${JSON.stringify(spec)}: more than one "@"`);
  let remaining = 1;
  if (times !== undefined) {
    remaining = times === "always" ? Infinity : Number(times);
    if (!(remaining === Infinity || (Number.isInteger(remaining) && remaining > 0))) {
      throw new Error(`fault ${JSON.stringify(spec)}: "@" takes a positive count or "always"`);
    }
  }
  const [name = "", ...args] = body.split(":");
  const arg = (i: number): string | undefined => args[i];
  const noArgs = (): void => {
    if (args.length > 0) throw new Error(`fault ${JSON.stringify(spec)}: ${name} takes no argument`);
  };
  let fault: HostFault;
  if (isCommand(name)) {
    noArgs();
    fault = { target: name, effect: "fail" };
  } else {
    switch (name) {
      case "hang":
        fault = { target: command(arg(0), spec), effect: "hang" };
        break;
      case "die":
        fault = { target: command(arg(0), spec), effect: "die" };
        break;
      case "slow":
        fault = { target: command(arg(0), spec), effect: "slow", durationMs: duration(arg(1), spec) };
        break;
      case "dispatcher":
        noArgs();
        fault = { target: "dispatcher", effect: "fail" };
        break;
      case "reboot":
        noArgs();
        fault = { target: "reboot", effect: "refuse" };
        break;
      case "reboot-drop":
        noArgs();
        fault = { target: "reboot", effect: "drop-response" };
        break;
      case "reboot-delay":
        fault = { target: "reboot", effect: "delay", durationMs: duration(arg(0), spec) };
        break;
      case "boot":
      case "boot-hang": {
        const version = arg(0);
        if (version !== undefined && !isSemVer(version)) {
          throw new Error(`fault ${JSON.stringify(spec)}: ${JSON.stringify(version)} is not a version`);
        }
        const effect = name === "boot" ? "panic" : "hang";
        fault = version === undefined ? { target: "boot", effect } : { target: "boot", effect, version };
        break;
      }
      case "stall":
        noArgs();
        fault = { target: "api", effect: "stall" };
        break;
      case "status-corrupt":
        noArgs();
        fault = { target: "status", effect: "corrupt" };
        break;
      case "status-500":
        noArgs();
        fault = { target: "status-read", effect: "error" };
        break;
      case "status-garbage":
        noArgs();
        fault = { target: "status-read", effect: "garbage" };
        break;
      case "contention":
        fault = { target: "lock", effect: "hold-shared", durationMs: duration(arg(0), spec) };
        break;
      default:
        throw new Error(`unknown fault ${JSON.stringify(name)} in ${JSON.stringify(spec)}\n${FAULT_SPEC_HELP}`);
    }
  }
  if (args.length > 3) throw new Error(`fault ${JSON.stringify(spec)}: too many ":" arguments`);
  return { fault, remaining };
}

export function isCommandFault(fault: HostFault): fault is Extract<HostFault, { target: CommandType }> {
  return isCommand(fault.target) && (COMMAND_EFFECTS as readonly string[]).includes(fault.effect);
}

/** Validates a programmatic fault (from tests or the simulated cluster); throws with a clear message. */
export function validateFault(fault: HostFault): HostFault {
  if ("durationMs" in fault && !(Number.isInteger(fault.durationMs) && fault.durationMs >= 0)) {
    throw new Error(`fault ${fault.target}/${fault.effect}: durationMs must be a non-negative integer`);
  }
  if (fault.target === "boot" && fault.version !== undefined && !isSemVer(fault.version)) {
    throw new Error(`fault boot/${fault.effect}: ${JSON.stringify(fault.version)} is not a version`);
  }
  return fault;
}
