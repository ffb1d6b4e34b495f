// A container of an unpacked image, started the way a container runtime starts it, with what this machine allows
// (no container engine: `podman run` stops at crun's setrlimit here). A new mount namespace (unshare) gets the
// image's root bind-mounted onto itself, /proc, a tmpfs /tmp and the volumes, then the root is made read-only and
// `unshare --root --wd --setuid --setgid` enters it as the container's user in its working directory, with no
// capabilities for a non-root user. The network is the host's (pods here share one, by port).
// The process keeps one PID throughout (unshare, sh and unshare exec each other): signals reach the container's
// process directly, as the kubelet's do.
// Needs root (mounts and chroot); run as another user, it maps that user to root in a user namespace instead.
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import type { ImageConfig, UnpackedImage } from "./image.ts";

export interface Volume {
  /** Directory or file on this machine. */
  readonly host: string;
  /** Where the container sees it. */
  readonly path: string;
  readonly readOnly?: boolean;
}

export interface ContainerSpec {
  /** The pod's `command` (replaces the image's entrypoint) and `args` (replace its command), as Kubernetes does. */
  readonly command?: readonly string[];
  readonly args?: readonly string[];
  /** The container's environment (after the image's); a pod's env as the kubelet resolves it. */
  readonly env?: Readonly<Record<string, string>>;
  readonly volumes?: readonly Volume[];
  /** uid and gid; default: the image's USER. */
  readonly user?: { readonly uid: number; readonly gid: number };
  /** Default true, as the operator's manifests set it. */
  readonly readOnlyRootFilesystem?: boolean;
}

export interface ContainerProcess {
  readonly command: string;
  readonly args: string[];
  /** The whole environment of the container's process (the image's, then the spec's). */
  readonly env: Record<string, string>;
}

/** The argv a runtime execs: the pod's command or the image's entrypoint, then the pod's args or the image's Cmd. */
export function containerArgv(config: ImageConfig, spec: Pick<ContainerSpec, "command" | "args">): string[] {
  if (spec.command !== undefined) return [...spec.command, ...(spec.args ?? [])];
  return [...(config.Entrypoint ?? []), ...(spec.args ?? config.Cmd ?? [])];
}

/** The image's environment overlaid with the container's. */
export function containerEnv(config: ImageConfig, env: Readonly<Record<string, string>> = {}): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of config.Env ?? []) {
    const at = kv.indexOf("=");
    out[kv.slice(0, at)] = kv.slice(at + 1);
  }
  return { ...out, ...env };
}

function imageUser(config: ImageConfig): { uid: number; gid: number } {
  const [uid = "0", gid = uid] = (config.User ?? "0").split(":");
  if (!/^\d+$/.test(uid) || !/^\d+$/.test(gid)) throw new Error(`image USER ${config.User ?? ""} is not numeric`);
  return { uid: Number(uid), gid: Number(gid) };
}

/** A host tool's absolute path: the container's environment replaces PATH, so the wrapper names its tools in full. */
function hostTool(name: string): string {
  for (const dir of (process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin").split(delimiter)) {
    const path = join(dir, name);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // next
    }
  }
  throw new Error(`${name} is not installed (util-linux and coreutils are needed to run an image's rootfs)`);
}

// $1 root; then triples (host, path, ro|rw) up to "--"; then the workdir, uid, gid, read-only root, and the argv.
const SCRIPT = `set -e
MOUNT=$1 MKDIR=$2 TOUCH=$3 UNSHARE=$4 R=$5; shift 5
$MOUNT --bind "$R" "$R"
$MOUNT --rbind /proc "$R/proc"
$MOUNT -t tmpfs -o mode=1777,size=64m tmpfs "$R/tmp"
while [ "$1" != "--" ]; do
  if [ -d "$1" ]; then $MKDIR -p "$R$2"; else $MKDIR -p "$R\${2%/*}"; $TOUCH "$R$2"; fi
  $MOUNT --bind "$1" "$R$2"
  if [ "$3" = ro ]; then $MOUNT -o remount,bind,ro "$R$2"; fi
  shift 3
done
shift
WD=$1 U=$2 G=$3 RO=$4; shift 4
if [ "$RO" = ro ]; then $MOUNT -o remount,bind,ro "$R"; fi
exec $UNSHARE --root="$R" --wd="$WD" --setgid "$G" --setuid "$U" -- "$@"
`;

/** The command line that runs `spec` in `image`, for spawn(command, args, { env }). */
export function containerProcess(image: UnpackedImage, spec: ContainerSpec): ContainerProcess {
  const argv = containerArgv(image.config, spec);
  if (argv.length === 0) throw new Error("the container has no command: neither the pod nor the image names one");
  const root = process.getuid?.() === 0;
  // Without root, the user namespace maps this user to root: the container's process runs as "root" inside it.
  const user = root ? (spec.user ?? imageUser(image.config)) : { uid: 0, gid: 0 };
  const unshare = hostTool("unshare");
  const volumes = (spec.volumes ?? []).flatMap((v) => [v.host, v.path, v.readOnly ? "ro" : "rw"]);
  return {
    command: unshare,
    args: [
      ...(root ? [] : ["--user", "--map-root-user"]),
      "--mount",
      "--",
      hostTool("sh"),
      "-c",
      SCRIPT,
      "container",
      hostTool("mount"),
      hostTool("mkdir"),
      hostTool("touch"),
      unshare,
      image.rootfs,
      ...volumes,
      "--",
      image.config.WorkingDir ?? "/",
      String(user.uid),
      String(user.gid),
      spec.readOnlyRootFilesystem === false ? "rw" : "ro",
      ...argv,
    ],
    env: containerEnv(image.config, spec.env),
  };
}
