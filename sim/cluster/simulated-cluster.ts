// The simulated cluster: the operator as it ships, on a real control plane, over simulated Bottlerocket hosts.
//
// - The install manifest's objects (src/deploy, the same builder as bottlerocket-update-operator.yaml) are applied with
//   `kubectl apply --server-side` once the nodes exist (or as `install` says): the real CRDs, RBAC, ServiceAccounts,
//   Deployments and DaemonSet. The real scheduler, Deployment and DaemonSet controllers create the pods; kwok makes
//   them Running.
// - PodRunner plays each pod's kubelet: a real `node src/<component>/main.ts` process per Running pod, with the
//   container's env, the pod-bound service-account token (a per-pod kubeconfig reads it as in-cluster config would)
//   and the projected agent token. Only what a pod cannot have here is overridden: ports on 127.0.0.1 (all processes
//   share one network namespace), file paths instead of fixed mount paths, TLS from files.
// - A round-robin TCP proxy plays the `brupop-apiserver` Service (Service IPs are not routable here); the CRD's
//   conversion webhook is pointed at it by URL.
// - One simulated host per node. Its reboot stops the node's processes (the agent; any operator pod still there) as a
//   real reboot would (past the node monitor's grace period the Node is NotReady); when the host is up again, the
//   kubelet would report the booted OS image, and the processes start again.
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { stringify } from "yaml";
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, type V1Pod } from "@kubernetes/client-node";
import {
  AGENT_TOKEN_PATH,
  API_GROUP,
  COMPONENT,
  CONVERSION_WEBHOOK_PATH,
  CRD_NAME,
  LABEL_COMPONENT,
  PLURAL,
  VERSION_V2,
  brsName,
} from "../../src/api/index.ts";
import { DEFAULT_LEASE_NAME } from "../../src/controller/config.ts";
import { operatorObjects } from "../../src/deploy/manifest.ts";
import { NAMES } from "../../src/deploy/names.ts";
import { resolveOptions, type DeployOptionsInput } from "../../src/deploy/options.ts";
import { startControlPlane, type ControlPlane } from "../control-plane/control-plane.ts";
import { freePort } from "../control-plane/ports.ts";
import { startSimulatedHost, type SimulatedHost } from "../host/simulated-host.ts";
import type { DurationProfile, HostDurations } from "../host/durations.ts";
import type { ArmedFault, HostFault } from "../host/faults.ts";
import { bottlerocketOsImage, createBottlerocketNodes, setOsImage } from "./nodes.ts";
import { startKubelet, stopKubelet } from "./kubelet.ts";
import { startNodeLink, type NodeLink } from "./node-links.ts";
import { PodRunner, resolveEnv, type PodFiles, type PodRunnerOptions } from "./pod-runner.ts";
import { unpackImage } from "../container/image.ts";
import { containerProcess } from "../container/run.ts";
import { writeApiServerTlsFiles } from "./apiserver-tls.ts";
import { startServiceProxy, type ServiceProxy } from "./service-proxy.ts";
import { createWorkloads, type Workload } from "./workloads.ts";

const run = promisify(execFile);
const SRC = fileURLToPath(new URL("../../src/", import.meta.url));

/** Environment overrides per component, on top of the pod's own env and what the simulation must set. */
export interface ComponentEnv {
  readonly agent?: Readonly<Record<string, string>>;
  readonly apiserver?: Readonly<Record<string, string>>;
  readonly controller?: Readonly<Record<string, string>>;
}

export interface SimulatedClusterOptions {
  /** Number of simulated Bottlerocket nodes, named bottlerocket-1..N (default 3). */
  readonly nodes?: number;
  /** Version every host runs at start (default 1.25.0). */
  readonly fromVersion?: string;
  /** MAX_CONCURRENT_UPDATE (default 1). */
  readonly budget?: number | "unlimited";
  /** Further install options (src/deploy); the budget above wins. */
  readonly deploy?: DeployOptionsInput;
  /** Host step durations (default "demo": seconds). */
  readonly profile?: DurationProfile;
  readonly durations?: Partial<HostDurations>;
  /** Faults armed on a node's host from the start, e.g. { "bottlerocket-2": ["prepare"] }. */
  readonly faults?: Readonly<Record<string, readonly (HostFault | ArmedFault | string)[]>>;
  /** Workloads to drain (default: a `web` Deployment with one pod per node and a 3-pod `db` StatefulSet). */
  readonly workloads?: false | { readonly webReplicas?: number; readonly statefulReplicas?: number };
  readonly env?: ComponentEnv;
  /**
   * Settings added to the controller Deployment's environment in the applied manifest (e.g. FAILURE_BACKOFF_UNIT):
   * unlike `env.controller`, which only the process sees, these are what `brupop status` reads from the Deployment.
   */
  readonly controllerSettings?: Readonly<Record<string, string>>;
  /** Extra labels on every node (e.g. what MANAGED_NODE_SELECTOR selects). */
  readonly nodeLabels?: Readonly<Record<string, string>>;
  /** Extra labels per node, on top of `nodeLabels` (e.g. its zone, topology.kubernetes.io/zone). */
  readonly labelsOf?: (node: string) => Readonly<Record<string, string>>;
  /** Give each node its own network link (node-links.ts), so that one node can be cut off; default: none. */
  readonly nodeLinks?: boolean;
  /** Reuse this control plane (it is not stopped by stop()); default: start one. */
  readonly controlPlane?: ControlPlane;
  /** Keep the directory (process logs, PKI) after stop. */
  readonly keepDir?: boolean;
  /**
   * Puts the operator's objects (`manifestFile`) on the cluster, once its nodes exist; default
   * `kubectl apply --server-side --force-conflicts -f`. A test may install something else first (brupop, to switch
   * from it).
   */
  readonly install?: (step: {
    readonly kubectl: (...args: string[]) => Promise<{ stdout: string; stderr: string }>;
    readonly manifestFile: string;
    readonly dir: string;
    readonly kc: KubeConfig;
    /** The nodes' simulated hosts, already serving: a test may leave one mid-update as another operator would. */
    readonly hosts: ReadonlyMap<string, SimulatedHost>;
  }) => Promise<void>;
  /**
   * Run the operator's pods from a built image (an OCI layout, `npm run image`'s dist/image/oci) instead of the
   * source tree: each container's command and args from its pod over the image's entrypoint, in the image's root
   * (sim/container/run.ts). Default: `node src/<component>/main.ts`.
   */
  readonly image?: { readonly layout: string; readonly architecture?: string };
  readonly log?: (line: string) => void;
}

export type ComponentName = "agent" | "apiserver" | "controller";

export interface SimulatedCluster {
  readonly cp: ControlPlane;
  /** Admin client configuration. */
  readonly kc: KubeConfig;
  /** Where hosts, pods and logs live. */
  readonly dir: string;
  readonly namespace: string;
  readonly nodeNames: readonly string[];
  readonly hosts: ReadonlyMap<string, SimulatedHost>;
  readonly runners: Readonly<Record<ComponentName, PodRunner>>;
  readonly proxy: ServiceProxy;
  readonly workloadNamespace: string;
  readonly workloads: readonly Workload[];
  /** Nodes whose host is rebooting now. */
  readonly down: ReadonlySet<string>;
  /** Nodes whose kubelet is down, or which were deleted: none of their pods' processes run. */
  readonly offline: ReadonlySet<string>;
  /** Each node's network link, when started with `nodeLinks`. */
  readonly links: ReadonlyMap<string, NodeLink>;
  /** Takes a node's kubelet down (Node NotReady, its pods' processes stopped and not restarted) or brings it back. */
  setKubelet(node: string, up: boolean): Promise<void>;
  /** A node goes away as a terminated instance does: its host powers off, its pods stop, its Node is deleted. */
  deleteNode(node: string): Promise<void>;
  /** Offers a new Bottlerocket version on every host (they see it at their next refresh). */
  publish(version: string): void;
  /** Container log files of a component's pods (running or not). */
  logFiles(component: ComponentName): Promise<string[]>;
  /** The controller replica (pod name) holding the leader Lease now; undefined when none does. */
  controllerLeader(): Promise<string | undefined>;
  /** The /metrics URL of a controller replica (pod name), as Prometheus scrapes it; undefined for an unknown pod. */
  controllerMetricsUrl(pod: string): string | undefined;
  /** The tail of each node's agent log and the API server lines about it: what explains a node that is stuck. */
  logsAbout(nodes: readonly string[]): Promise<string>;
  stop(): Promise<void>;
}

/**
 * Env the simulation sets for a shorter demo: agents look for updates every second, sync every 2 s, and poll a drain
 * every second (within the API server's default rate limit of 60 requests a minute per node, even for long drains).
 */
export const FAST_AGENT_ENV: Readonly<Record<string, string>> = {
  AGENT_SYNC_INTERVAL_SECONDS: "2",
  UPDATE_CHECK_INTERVAL_SECONDS: "1",
  DRAIN_POLL_INTERVAL_SECONDS: "1",
};

/**
 * A host down this long has its Node marked NotReady, as kube-controller-manager does once the kubelet's heartbeats
 * stop for its --node-monitor-grace-period (50 s since Kubernetes 1.32, 40 s before): a boot that hangs leaves a
 * NotReady Node, not a Ready one.
 */
const REBOOT_NOT_READY_AFTER_MS = 40_000;

const componentSelector = (c: string) => `${LABEL_COMPONENT}=${c}`;

export async function startSimulatedCluster(options: SimulatedClusterOptions = {}): Promise<SimulatedCluster> {
  const log = options.log ?? (() => undefined);
  const count = options.nodes ?? 3;
  const fromVersion = options.fromVersion ?? "1.25.0";
  const ownControlPlane = options.controlPlane === undefined;
  const cp = options.controlPlane ?? (await startControlPlane({ log, ...(options.keepDir ? { keepDir: true } : {}) }));
  const dir = await mkdtemp(join(cp.dir, "sim-"));
  const stops: (() => Promise<unknown>)[] = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    if (ownControlPlane) await cp.stop();
    else if (!options.keepDir) await rm(dir, { recursive: true, force: true });
  };

  try {
    const kc = new KubeConfig();
    kc.loadFromFile(cp.kubeconfigPath);
    const core = kc.makeApiClient(CoreV1Api);
    const deploy = resolveOptions({
      ...options.deploy,
      maxConcurrentUpdates: String(options.budget ?? 1),
      // The serving certificate comes from files here (see below); builtin keeps the manifest free of cert-manager.
      tls: "builtin",
    });
    const namespace = deploy.namespace;

    // ---- TLS for the API server: a serving certificate from the cluster CA, valid for the Service and loopback.
    log("issuing the API server's serving certificate");
    const tlsFiles = await writeApiServerTlsFiles(cp, {
      dir: join(dir, "apiserver-tls"),
      namespace,
      clusterDomain: deploy.clusterDomain,
    });

    // ---- The Service: a proxy in front of the live API server processes (ports assigned per pod below).
    const runners: Partial<Record<ComponentName, PodRunner>> = {};
    const apiserverPorts = new Map<string, { https: number; metrics: number }>();
    // Until the cluster is ready, an outage is the API server processes starting for the first time (the agents
    // retry): not logged, as kube-proxy would have no ready endpoint to offer yet.
    let ready = false;
    const proxy = await startServiceProxy({
      // The Service's endpoints: API server pods whose process runs now.
      backends: () =>
        [...(runners.apiserver?.processes() ?? [])]
          .filter(([, proc]) => proc?.running())
          .flatMap(([pod]) => apiserverPorts.get(pod)?.https ?? []),
      log: (line) => {
        if (ready) log(`brupop-apiserver Service: ${line}`);
      },
    });
    stops.push(() => proxy.stop());

    // ---- The manifest, as generated, except where the conversion webhook is reached (a URL instead of the Service).
    const objects = operatorObjects(deploy).map((o) => {
      if (o.kind === "Deployment" && o.metadata.name === NAMES.controllerDeployment) {
        return withContainerEnv(o, options.controllerSettings ?? {});
      }
      if (o.kind !== "CustomResourceDefinition" || o.metadata.name !== CRD_NAME) return o;
      const crd = structuredClone(o) as unknown as {
        spec: { conversion?: { webhook?: { clientConfig?: Record<string, unknown> } } };
      };
      const webhook = crd.spec.conversion?.webhook;
      if (webhook) {
        webhook.clientConfig = {
          url: `${proxy.url}${CONVERSION_WEBHOOK_PATH}`,
          caBundle: Buffer.from(cp.caPem).toString("base64"),
        };
      }
      return crd as unknown as typeof o;
    });
    const manifestFile = join(dir, "operator.yaml");
    await writeFile(manifestFile, objects.map((o) => `---\n${stringify(o, { lineWidth: 0 })}`).join(""));

    // ---- Hosts, then nodes (so an agent always finds its host's socket).
    const nodeNames = Array.from({ length: count }, (_, i) => `bottlerocket-${i + 1}`);
    const hosts = new Map<string, SimulatedHost>();
    const down = new Set<string>();
    const offline = new Set<string>();
    // Hosts down past the node monitor's grace period: their Node is NotReady until the host is up again.
    const notReadyTimers = new Map<string, NodeJS.Timeout>();
    const notReadyByReboot = new Set<string>();
    stops.push(() => {
      notReadyTimers.forEach((timer) => clearTimeout(timer));
      return Promise.resolve();
    });
    const syncRunners = () => Object.values(runners).forEach((r) => r.sync());
    log(`starting ${count} simulated hosts at ${fromVersion}`);
    for (const name of nodeNames) {
      const hostDir = join(dir, "hosts", name);
      await mkdir(hostDir, { recursive: true });
      const host = await startSimulatedHost({
        socketPath: join(hostDir, "api.sock"),
        bootIdPath: join(hostDir, "boot_id"),
        version: fromVersion,
        profile: options.profile ?? "demo",
        ...(options.durations ? { durations: options.durations } : {}),
        ...(options.faults?.[name] ? { faults: options.faults[name] } : {}),
      });
      host.on("api-down", () => {
        down.add(name);
        log(`${name}: host going down (reboot)`);
        syncRunners();
        // Its kubelet went down with it: past the node monitor's grace period the Node is NotReady.
        clearTimeout(notReadyTimers.get(name));
        const timer = setTimeout(() => {
          notReadyTimers.delete(name);
          if (!down.has(name) || offline.has(name)) return;
          notReadyByReboot.add(name);
          stopKubelet(core, name).then(
            () => log(`${name}: NotReady (host down for ${REBOOT_NOT_READY_AFTER_MS / 1000} s)`),
            (err: unknown) => log(`${name}: could not mark NotReady: ${String(err)}`),
          );
        }, REBOOT_NOT_READY_AFTER_MS);
        timer.unref();
        notReadyTimers.set(name, timer);
      });
      host.on("boot-failed", (e) => log(`${name}: boot of ${e.version ?? "?"} failed (${e.mode})`));
      host.on("api-up", (e) => {
        log(`${name}: host up, running ${e.version}${e.rolledBack ? " (rolled back)" : ""}`);
        // The kubelet reports the booted image; then the node's pods run again.
        clearTimeout(notReadyTimers.get(name));
        notReadyTimers.delete(name);
        void setOsImage(core, name, bottlerocketOsImage(e.version))
          .catch((err: unknown) => log(`${name}: could not set osImage: ${String(err)}`))
          .then(async () => {
            if (notReadyByReboot.delete(name) && !offline.has(name)) {
              await startKubelet(core, name).then(
                () => log(`${name}: Ready again (host up)`),
                (err: unknown) => log(`${name}: could not mark Ready: ${String(err)}`),
              );
            }
          })
          .finally(() => {
            down.delete(name);
            syncRunners();
          });
      });
      host.on("error", (e) => log(`${name}: host simulator: ${e.message}`));
      hosts.set(name, host);
      stops.push(() => host.stop());
    }
    log(`creating nodes ${nodeNames[0] ?? ""}..${nodeNames.at(-1) ?? ""}`);
    await createBottlerocketNodes(core, nodeNames, {
      osVersion: fromVersion,
      ...(options.nodeLabels ? { labels: options.nodeLabels } : {}),
      ...(options.labelsOf ? { labelsOf: options.labelsOf } : {}),
    });
    const links = new Map<string, NodeLink>();
    if (options.nodeLinks) {
      const server = new URL(cp.server);
      for (const [i, name] of nodeNames.entries()) {
        const link = await startNodeLink({
          node: name,
          index: i + 1,
          kube: { host: server.hostname, port: Number(server.port) },
          service: { host: "127.0.0.1", port: proxy.port },
          log,
        });
        links.set(name, link);
        stops.push(() => link.stop());
      }
    }

    // ---- The operator's objects, onto the nodes (their pods run once the runners below start).
    log(`applying the operator's manifest (${objects.length} objects, budget ${deploy.maxConcurrentUpdates})`);
    const kubectl = (...args: string[]) =>
      run(join(cp.binDir, "kubectl"), ["--kubeconfig", cp.kubeconfigPath, ...args], { maxBuffer: 16 << 20 });
    if (options.install) await options.install({ kubectl, manifestFile, dir, kc, hosts });
    else await kubectl("apply", "--server-side", "--force-conflicts", "-f", manifestFile);
    await kubectl("wait", "--for=condition=Established", "--timeout=30s", `crd/${CRD_NAME}`);

    // ---- The kubelet's side of the operator's pods.
    const podsDir = join(dir, "pods");
    const kubeconfigFor = (files: PodFiles): string => {
      const path = join(files.dir, "kubeconfig");
      writeFileSync(
        path,
        stringify({
          apiVersion: "v1",
          kind: "Config",
          clusters: [{ name: "sim", cluster: { server: cp.server, "certificate-authority": tlsFiles.ca } }],
          // What in-cluster configuration does: the projected token file, re-read as it rotates (src/kube/connection.ts).
          users: [{ name: "pod", user: { tokenFile: join(files.serviceAccountDir, "token") } }],
          contexts: [{ name: "pod", context: { cluster: "sim", user: "pod", namespace } }],
          "current-context": "pod",
        }),
        { mode: 0o600 },
      );
      return path;
    };
    const portPool = new PortPool();
    await portPool.fill(16);
    // A pod keeps its ports across container restarts (its network namespace outlives the container).
    const podPorts = new Map<string, number>();
    const portFor = (pod: V1Pod): number => {
      const key = pod.metadata?.uid ?? "";
      let port = podPorts.get(key);
      if (port === undefined) {
        port = portPool.take();
        podPorts.set(key, port);
      }
      return port;
    };
    const isNodeDown = (node: string) => down.has(node) || offline.has(node);
    const entry = (component: ComponentName) => [join(SRC, component, "main.ts")];
    const common = (files: PodFiles) => ({ TERMINATION_LOG: join(files.dir, "termination-log") });
    // From the image: the pod's container as the image runs it, with the env the simulation gives it. Every path the
    // simulation hands a process (kubeconfig, tokens, TLS files, the host's socket, the termination log) is under
    // `dir`, mounted at the same path. The processes run as root: the pod files here belong to the runner's user.
    const image = options.image
      ? await unpackImage(options.image.layout, options.image.architecture ?? "amd64", join(dir, "image-rootfs"))
      : undefined;
    if (image) log(`running the operator's pods from the image (${image.manifestDigest})`);
    const fromImage =
      (launch: PodRunnerOptions["launch"]): PodRunnerOptions["launch"] =>
      (pod, files) => {
        const spec = launch(pod, files);
        const container = pod.spec?.containers[0];
        if (!image) return spec;
        const p = containerProcess(image, {
          ...(container?.command ? { command: container.command } : {}),
          ...(container?.args ? { args: container.args } : {}),
          env: { ...resolveEnv(pod, container ?? { name: "" }), ...spec.env },
          user: { uid: 0, gid: 0 },
          volumes: [{ host: dir, path: dir }],
        });
        return { command: p.command, args: p.args, env: p.env };
      };
    // Each component's pods, run as processes the way a kubelet would run their containers.
    const podRunner = (component: ComponentName, launch: PodRunnerOptions["launch"]) =>
      new PodRunner({
        kc,
        namespace,
        labelSelector: componentSelector(COMPONENT[component]),
        caPem: cp.caPem,
        dir: podsDir,
        isNodeDown,
        log,
        launch: fromImage(launch),
      });

    runners.apiserver = podRunner("apiserver", (pod, files) => {
      const key = pod.metadata?.name ?? "";
      let ports = apiserverPorts.get(key);
      if (!ports) {
        ports = { https: portPool.take(), metrics: portPool.take() };
        apiserverPorts.set(key, ports);
      }
      return {
        command: process.execPath,
        args: entry("apiserver"),
        env: {
          ...common(files),
          KUBECONFIG: kubeconfigFor(files),
          APISERVER_BIND_ADDRESS: "127.0.0.1",
          APISERVER_INTERNAL_PORT: String(ports.https),
          APISERVER_METRICS_PORT: String(ports.metrics),
          APISERVER_TLS_MODE: "files",
          APISERVER_TLS_CERT_FILE: tlsFiles.cert,
          APISERVER_TLS_KEY_FILE: tlsFiles.key,
          APISERVER_TLS_CA_FILE: tlsFiles.ca,
          ...options.env?.apiserver,
        },
      };
    });
    const controllerPorts = new Map<string, number>();
    runners.controller = podRunner("controller", (pod, files) => {
      const port = portFor(pod);
      controllerPorts.set(pod.metadata?.name ?? "", port);
      return {
        command: process.execPath,
        args: entry("controller"),
        env: {
          ...common(files),
          KUBECONFIG: kubeconfigFor(files),
          BRUPOP_NAMESPACE: namespace,
          METRICS_PORT: String(port),
          ...options.env?.controller,
        },
      };
    });
    const tokenDir = AGENT_TOKEN_PATH.slice(0, AGENT_TOKEN_PATH.lastIndexOf("/"));
    const tokenFile = AGENT_TOKEN_PATH.slice(AGENT_TOKEN_PATH.lastIndexOf("/") + 1);
    runners.agent = podRunner("agent", (pod, files) => {
      const node = pod.spec?.nodeName ?? "";
      const host = hosts.get(node);
      return {
        command: process.execPath,
        args: entry("agent"),
        env: {
          ...common(files),
          KUBE_API_URL: links.get(node)?.kubeUrl ?? cp.server,
          KUBE_SERVICE_ACCOUNT_DIR: files.serviceAccountDir,
          APISERVER_URL: links.get(node)?.serviceUrl ?? proxy.url,
          APISERVER_TOKEN_FILE: join(files.mounts[tokenDir] ?? join(files.dir, "missing-token-volume"), tokenFile),
          APISERVER_CA_FILE: tlsFiles.ca,
          // A node without a simulated host (not ours) gets a socket that does not exist: its agent waits.
          HOST_API_SOCKET: host?.socketPath ?? join(dir, "hosts", node, "api.sock"),
          ...(host?.bootIdPath ? { HOST_BOOT_ID_PATH: host.bootIdPath } : {}),
          // Every pod has its own network here only by port: the probe port must be unique.
          AGENT_HEALTH_PORT: String(portFor(pod)),
          ...options.env?.agent,
        },
      };
    });
    for (const name of ["apiserver", "controller", "agent"] as const) {
      const runner = runners[name];
      if (!runner) continue;
      await runner.start();
      stops.push(() => runner.stop());
    }

    // ---- Workloads for the drains to move.
    const workloadNamespace = "workloads";
    let workloads: Workload[] = [];
    if (options.workloads !== false) {
      await core.createNamespace({ body: { metadata: { name: workloadNamespace } } }).catch((err: unknown) => {
        if (!String(err).includes("AlreadyExists")) throw err;
      });
      await waitUntil("the workloads namespace's default ServiceAccount", 30_000, async () => {
        await core.readNamespacedServiceAccount({ name: "default", namespace: workloadNamespace });
        return true;
      });
      workloads = await createWorkloads(kc, {
        namespace: workloadNamespace,
        webReplicas: options.workloads?.webReplicas ?? count,
        statefulReplicas: options.workloads?.statefulReplicas ?? 3,
      });
    }

    const finalRunners = runners as Record<ComponentName, PodRunner>;
    const cluster: SimulatedCluster = {
      cp,
      kc,
      dir,
      namespace,
      nodeNames,
      hosts,
      runners: finalRunners,
      proxy,
      workloadNamespace,
      workloads,
      down,
      offline,
      links,
      async setKubelet(node, up) {
        // A kubelet runs on its host: on one that is down (a reboot, or a boot that hangs) it comes back when the
        // host does, as after a long reboot. A Ready Node on a hung host is a state no real cluster shows.
        const withHost = up && down.has(node);
        if (withHost) {
          notReadyByReboot.add(node);
          offline.delete(node);
        } else if (up) {
          await startKubelet(core, node);
          offline.delete(node);
        } else {
          offline.add(node);
          syncRunners();
          await stopKubelet(core, node);
        }
        syncRunners();
        log(`${node}: kubelet ${withHost ? "back when its host is up" : up ? "back" : "down (NotReady)"}`);
      },
      async deleteNode(node) {
        offline.add(node);
        syncRunners();
        await hosts.get(node)?.stop();
        await core.deleteNode({ name: node });
        log(`${node}: deleted (its host powered off)`);
      },
      publish(version) {
        for (const host of hosts.values()) host.publish(version);
      },
      async logFiles(component) {
        const prefix = {
          agent: "brupop-agent-",
          apiserver: "brupop-apiserver-",
          controller: "brupop-controller-deployment-",
        }[component];
        const entries = await readdir(podsDir).catch(() => [] as string[]);
        return entries.filter((e) => e.startsWith(prefix)).map((e) => join(podsDir, e, "container.log"));
      },
      async controllerLeader() {
        const lease = await kc
          .makeApiClient(CoordinationV1Api)
          .readNamespacedLease({ name: DEFAULT_LEASE_NAME, namespace });
        return lease.spec?.holderIdentity ?? undefined;
      },
      controllerMetricsUrl(pod) {
        const port = controllerPorts.get(pod);
        return port === undefined ? undefined : `http://127.0.0.1:${port}/metrics`;
      },
      logsAbout: (nodes) => logsAbout(cluster, nodes),
      stop: stopAll,
    };

    // ---- Ready: every process running, every agent has reported on its shadow.
    log("waiting for the operator's pods and every node's BottlerocketShadow");
    const custom = kc.makeApiClient(CustomObjectsApi);
    await waitUntil("the operator's processes and every node's shadow with a status", 120_000, async () => {
      const agents = finalRunners.agent.processes().size;
      const apiservers = finalRunners.apiserver.processes().size;
      const controllers = finalRunners.controller.processes().size;
      if (agents < count || apiservers < deploy.replicas.apiserver || controllers < deploy.replicas.controller) {
        return false;
      }
      const list = (await custom.listNamespacedCustomObject({
        group: API_GROUP,
        version: VERSION_V2,
        namespace,
        plural: PLURAL,
      })) as { items: { metadata?: { name?: string }; status?: { current_state?: string } | null }[] };
      const reported = new Set(list.items.filter((i) => i.status).map((i) => i.metadata?.name));
      return nodeNames.every((n) => reported.has(brsName(n)));
    });
    ready = true;
    log(`simulated cluster ready: ${count} nodes, operator running (${cp.server})`);
    return cluster;
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** A copy of a Deployment with `env` added to (or replacing the same names in) its containers' environment. */
function withContainerEnv<T extends { kind: string }>(deployment: T, env: Readonly<Record<string, string>>): T {
  const names = Object.keys(env);
  if (names.length === 0) return deployment;
  const copy = structuredClone(deployment) as unknown as {
    spec: { template: { spec: { containers: { env?: { name: string; value?: string }[] }[] } } };
  };
  for (const container of copy.spec.template.spec.containers) {
    container.env = [
      ...(container.env ?? []).filter((e) => !names.includes(e.name)),
      ...names.map((name) => ({ name, value: env[name] ?? "" })),
    ];
  }
  return copy as unknown as T;
}

/**
 * Free ports handed out synchronously (a pod's launch is synchronous): the pool is filled ahead of need and
 * refilled in the background. A port could be taken by someone else in between; the process then fails to listen
 * and is restarted on the same port, which is what a real pod would see as a crash loop, so it stays rare and visible.
 */
class PortPool {
  readonly #free: number[] = [];
  #filling = false;

  async fill(n: number): Promise<void> {
    while (this.#free.length < n) {
      const port = await freePort();
      if (!this.#free.includes(port)) this.#free.push(port);
    }
  }

  take(): number {
    const port = this.#free.shift();
    if (this.#free.length < 8 && !this.#filling) {
      this.#filling = true;
      void this.fill(16).finally(() => (this.#filling = false));
    }
    if (port === undefined) throw new Error("no free port in the pool");
    return port;
  }
}

async function waitUntil(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = undefined;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (err) {
      last = err;
    }
    await sleep(250);
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}${last instanceof Error ? `: ${last.message}` : ""}`,
  );
}

const AGENT_LOG_LINES = 40;
const APISERVER_LOG_LINES = 25;

async function logsAbout(cluster: SimulatedCluster, nodes: readonly string[]): Promise<string> {
  const read = async (file: string) => ({
    file,
    lines: (await readFile(file, "utf8").catch(() => "")).split("\n").filter(Boolean),
  });
  const agents = await Promise.all((await cluster.logFiles("agent")).map(read));
  const apiservers = await Promise.all((await cluster.logFiles("apiserver")).map(read));
  const indent = (line: string) => `  ${line}`;
  const out: string[] = [];
  for (const node of nodes) {
    // Both components log JSON lines carrying "node":"<name>".
    const mentions = (line: string) => line.includes(`"${node}"`);
    for (const { file, lines } of agents) {
      if (!lines.some(mentions)) continue;
      out.push(`agent log of ${node} (${file}), last ${AGENT_LOG_LINES} lines:`);
      out.push(...lines.slice(-AGENT_LOG_LINES).map(indent));
    }
    for (const { file, lines } of apiservers) {
      const about = lines.filter(mentions);
      if (about.length === 0) continue;
      out.push(`API server lines about ${node} (${file}):`, ...about.slice(-APISERVER_LOG_LINES).map(indent));
    }
  }
  return out.join("\n");
}
