// Runs a real process for each Running pod that matches a selector, the way a kubelet runs a pod's container:
// the container's environment is resolved from the pod (values and downward-API field references), the
// service-account token, CA and namespace files are written for it (the token bound to the pod, as the kubelet's
// projection is), projected service-account tokens with their audiences too, and the process is restarted with
// backoff when it exits and stopped when the pod goes away or its node "reboots".
//
// kwok makes pods Running without running anything; this is the piece that runs what the operator ships.
import { kubeClientOf } from "./kube-client.ts";
import { CoreV1Api, type KubeConfig, type V1Container, type V1Pod } from "@kubernetes/client-node";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { SupervisedInformer } from "../../src/kube/informer.ts";
import { startProcess, type ManagedProcess } from "../control-plane/processes.ts";
import { requestPodToken } from "./tokens.ts";

/** Files the runner wrote for a pod: what its container would find mounted. */
export interface PodFiles {
  readonly dir: string;
  /** Directory with `token`, `ca.crt` and `namespace`, like /var/run/secrets/kubernetes.io/serviceaccount. */
  readonly serviceAccountDir: string;
  /** Mount path in the pod spec (without a trailing slash) -> host directory holding that volume's files. */
  readonly mounts: Readonly<Record<string, string>>;
}

export interface ProcessSpec {
  readonly command: string;
  readonly args: readonly string[];
  /** Added to (and overriding) the environment resolved from the pod's container. */
  readonly env?: Readonly<Record<string, string>>;
}

export interface PodRunnerOptions {
  readonly kc: KubeConfig;
  readonly namespace: string;
  readonly labelSelector: string;
  /** Cluster CA (what the kubelet mounts as ca.crt). */
  readonly caPem: string;
  /** Where per-pod directories go. */
  readonly dir: string;
  /** Which container of the pod to run (default: the first). */
  readonly container?: string;
  /** The process for a pod: a command line that reads the resolved env and the files. */
  readonly launch: (pod: V1Pod, files: PodFiles) => ProcessSpec;
  /** Nodes whose pods must not run now (a rebooting host). */
  readonly isNodeDown?: (nodeName: string) => boolean;
  readonly log?: (line: string) => void;
}

interface Running {
  readonly uid: string;
  readonly pod: V1Pod;
  proc: ManagedProcess | undefined;
  restarts: number;
  /** No restart before this time (ms): a crash held longer than the back-off. */
  holdUntil?: number;
  stopping: boolean;
  restartTimer?: NodeJS.Timeout;
  refreshTimer?: NodeJS.Timeout;
}

const tokenLifetimeSeconds = 3600;

export class PodRunner {
  readonly #o: PodRunnerOptions;
  readonly #core: CoreV1Api;
  readonly #informer: SupervisedInformer<V1Pod>;
  readonly #running = new Map<string, Running>();
  #stopped = false;

  constructor(options: PodRunnerOptions) {
    this.#o = options;
    this.#core = options.kc.makeApiClient(CoreV1Api);
    this.#informer = new SupervisedInformer<V1Pod>({
      name: `pods(${options.labelSelector})`,
      client: kubeClientOf(options.kc),
      path: `/api/v1/namespaces/${options.namespace}/pods`,
      labelSelector: options.labelSelector,
      onChange: () => this.sync(),
    });
  }

  async start(): Promise<void> {
    await this.#informer.start();
    this.sync();
  }

  /** Pods running now, by pod name, with their process. */
  processes(): ReadonlyMap<string, ManagedProcess | undefined> {
    return new Map([...this.#running.entries()].map(([name, r]) => [name, r.proc]));
  }

  /** The name of the running pod on `node` (a DaemonSet's one), if any. */
  podOn(node: string): string | undefined {
    for (const [name, r] of this.#running) if (r.pod.spec?.nodeName === node && r.proc?.running()) return name;
    return undefined;
  }

  /**
   * SIGKILL of the pod's running container process: a container crash, restarted after the back-off as the kubelet
   * would; `holdMs` keeps it down at least that long (a container slow to come back). Returns the killed pid;
   * undefined when no process of that pod runs.
   */
  crash(pod: string, holdMs = 0): number | undefined {
    const r = this.#running.get(pod);
    const proc = r?.proc;
    if (!r || !proc?.running()) return undefined;
    if (holdMs > 0) r.holdUntil = Date.now() + holdMs;
    process.kill(proc.pid, "SIGKILL");
    return proc.pid;
  }

  /** Reconciles processes with pods: start for new Running pods, stop for gone ones (or pods of a down node). */
  sync(): void {
    if (this.#stopped) return;
    const wanted = new Map<string, V1Pod>();
    for (const pod of this.#informer.list(this.#o.namespace)) {
      const name = pod.metadata?.name;
      const node = pod.spec?.nodeName;
      if (!name || !node || pod.metadata?.deletionTimestamp || pod.status?.phase !== "Running") continue;
      if (this.#o.isNodeDown?.(node)) continue;
      wanted.set(name, pod);
    }
    for (const [name, r] of this.#running) {
      const pod = wanted.get(name);
      if (pod?.metadata?.uid !== r.uid) void this.#stopPod(name, r);
    }
    for (const [name, pod] of wanted) {
      if (!this.#running.has(name)) void this.#startPod(name, pod);
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#informer.stop();
    await Promise.all([...this.#running].map(([name, r]) => this.#stopPod(name, r)));
  }

  async #startPod(name: string, pod: V1Pod): Promise<void> {
    const r: Running = { uid: pod.metadata?.uid ?? "", pod, proc: undefined, restarts: 0, stopping: false };
    this.#running.set(name, r);
    try {
      const files = await this.#writeFiles(pod);
      const restartLater = (how: string) => {
        if (r.stopping || this.#stopped) return;
        // restartPolicy Always with the kubelet's capped exponential back-off (10 s .. 5 min, shortened here).
        const delay = Math.max(Math.min(10_000, 250 * 2 ** r.restarts++), (r.holdUntil ?? 0) - Date.now());
        this.#o.log?.(`${name}: exited (${how}); restarting in ${delay} ms`);
        r.restartTimer = setTimeout(run, delay);
      };
      const run = () => {
        if (r.stopping || this.#stopped) return;
        try {
          const spec = this.#o.launch(pod, files);
          const env = { ...baseEnv(), ...resolveEnv(pod, this.#container(pod)), ...spec.env };
          r.proc = startProcess(name, spec.command, spec.args, {
            logFile: join(files.dir, "container.log"),
            pidFile: join(files.dir, "pids"),
            env,
          });
        } catch (err) {
          // A container that cannot even start is retried like one that crashed (CrashLoopBackOff).
          restartLater(`could not start: ${err instanceof Error ? err.message : String(err)}`);
          return;
        }
        void r.proc.exited.then(restartLater);
      };
      run();
      // Rotate tokens well before they expire, as the kubelet does at 80 % of their lifetime.
      r.refreshTimer = setInterval(() => {
        this.#writeFiles(pod).catch((err: unknown) => {
          this.#o.log?.(`${name}: token rotation failed: ${err instanceof Error ? err.message : String(err)}`);
        });
      }, tokenLifetimeSeconds * 800);
      r.refreshTimer.unref();
    } catch (err) {
      this.#o.log?.(`${name}: could not start: ${err instanceof Error ? err.message : String(err)}`);
      this.#running.delete(name);
    }
  }

  async #stopPod(name: string, r: Running): Promise<void> {
    r.stopping = true;
    clearTimeout(r.restartTimer);
    clearInterval(r.refreshTimer);
    this.#running.delete(name);
    await r.proc?.stop(5_000);
  }

  #container(pod: V1Pod): V1Container {
    const containers = pod.spec?.containers ?? [];
    const c = this.#o.container === undefined ? containers[0] : containers.find((x) => x.name === this.#o.container);
    if (!c) throw new Error(`pod ${pod.metadata?.name ?? "?"} has no container ${this.#o.container ?? ""}`);
    return c;
  }

  /** Writes the service-account files and every projected service-account token the container mounts. */
  async #writeFiles(pod: V1Pod): Promise<PodFiles> {
    const name = pod.metadata?.name ?? "";
    const dir = join(this.#o.dir, `${name}-${(pod.metadata?.uid ?? "").slice(0, 8)}`);
    const serviceAccountDir = join(dir, "serviceaccount");
    await mkdir(serviceAccountDir, { recursive: true });
    const serviceAccount = pod.spec?.serviceAccountName ?? "default";
    const token = (audiences: readonly string[], expirationSeconds: number) =>
      requestPodToken(this.#core, {
        namespace: this.#o.namespace,
        serviceAccount,
        pod: { name, uid: pod.metadata?.uid ?? "" },
        audiences,
        expirationSeconds,
      });
    await Promise.all([
      token([], tokenLifetimeSeconds).then((t) => writeFile(join(serviceAccountDir, "token"), t)),
      writeFile(join(serviceAccountDir, "ca.crt"), this.#o.caPem),
      writeFile(join(serviceAccountDir, "namespace"), this.#o.namespace),
    ]);
    const mounts: Record<string, string> = {};
    const container = this.#container(pod);
    for (const volume of pod.spec?.volumes ?? []) {
      const mount = container.volumeMounts?.find((m) => m.name === volume.name);
      const sources = volume.projected?.sources ?? [];
      if (!mount || sources.length === 0) continue;
      const volumeDir = join(dir, "volumes", volume.name);
      await mkdir(volumeDir, { recursive: true });
      for (const source of sources) {
        const sat = source.serviceAccountToken;
        if (!sat) continue;
        const audiences = sat.audience ? [sat.audience] : [];
        await writeFile(
          join(volumeDir, sat.path),
          await token(audiences, sat.expirationSeconds ?? tokenLifetimeSeconds),
        );
      }
      // "/var/run/secrets/tokens/" and "/var/run/secrets/tokens" are one directory to the container.
      mounts[mount.mountPath.replace(/(.)\/+$/, "$1")] = volumeDir;
    }
    return { dir, serviceAccountDir, mounts };
  }
}

/** The parts of the runner's own environment a process needs to run at all (PATH, HOME). */
function baseEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of ["PATH", "HOME", "TMPDIR", "LANG"]) {
    const value = process.env[key];
    if (value !== undefined) env[key] = value;
  }
  return env;
}

/** The container's env as the kubelet resolves it: literal values and downward-API field references. */
export function resolveEnv(pod: V1Pod, container: V1Container): Record<string, string> {
  const fields: Record<string, string | undefined> = {
    "metadata.name": pod.metadata?.name,
    "metadata.namespace": pod.metadata?.namespace,
    "metadata.uid": pod.metadata?.uid,
    "spec.nodeName": pod.spec?.nodeName,
    "spec.serviceAccountName": pod.spec?.serviceAccountName,
    "status.podIP": pod.status?.podIP,
    "status.hostIP": pod.status?.hostIP,
  };
  const env: Record<string, string> = {};
  for (const e of container.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.fieldRef) {
      const value = fields[e.valueFrom.fieldRef.fieldPath];
      if (value !== undefined) env[e.name] = value;
    }
  }
  return env;
}
