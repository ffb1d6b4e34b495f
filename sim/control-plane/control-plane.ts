// A real, throw-away Kubernetes control plane on loopback: etcd, kube-apiserver (TLS, RBAC, service-account
// tokens), kube-controller-manager, kube-scheduler and kwok (which plays the kubelet of simulated nodes).
// Binaries come from scripts/testenv/provision; everything else lives in a temporary directory.
import { mkdtemp, mkdir, writeFile, rm, realpath, readdir, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { request as httpsRequest } from "node:https";
import { request as httpRequest } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { createCertificateAuthority, generateKeyPair, type CertificateAuthority } from "../../src/pki/certificates.ts";
import { startProcess, startWatchdog, logTail, type ManagedProcess } from "./processes.ts";
import { resolveBinDir } from "./provision.ts";
import { kubeconfigYaml, type ClientIdentity } from "./kubeconfig.ts";
import { freePort } from "./ports.ts";
import { parse, stringify } from "yaml";

export interface ControlPlaneOptions {
  /** Directory with etcd, kube-apiserver, ...; default: the provisioned cache. */
  readonly binDir?: string;
  /** Parent of the temporary directory; default the OS temp dir. */
  readonly baseDir?: string;
  /** Keep the directory (logs, PKI) after stop, for debugging. */
  readonly keepDir?: boolean;
  /** Progress lines, e.g. for `npm run cluster`. */
  readonly log?: (line: string) => void;
  readonly startTimeoutMs?: number;
}

export interface ControlPlane {
  /** https://127.0.0.1:<port> */
  readonly server: string;
  readonly dir: string;
  /** An admin (system:masters) kubeconfig with embedded credentials. */
  readonly kubeconfigPath: string;
  readonly caPem: string;
  /** The service-account token issuer, also the default token audience. */
  readonly issuer: string;
  readonly binDir: string;
  readonly processes: readonly ManagedProcess[];
  /** Milliseconds from start until the API server answered /readyz, and until the controllers ran. */
  readonly timings: { readonly apiserverReadyMs: number; readonly controllersReadyMs: number };
  /** A client certificate identity (user and groups) signed by the cluster CA, for RBAC tests. */
  identity(user: string, groups?: readonly string[]): Promise<ClientIdentity>;
  /** Writes a kubeconfig for an identity and returns its path. */
  writeKubeconfig(identity: ClientIdentity, name: string): Promise<string>;
  stop(): Promise<void>;
}

// Controllers that need a cloud provider or real machines. The node lifecycle controller stays on: kwok keeps
// the simulated nodes' leases and Ready conditions fresh, and it is what lifts the not-ready taint from new nodes.
const disabledControllers = [
  "node-ipam-controller",
  "cloud-node-lifecycle-controller",
  "node-route-controller",
  "service-lb-controller",
  "persistentvolume-attach-detach-controller",
  "persistentvolume-expander-controller",
  "ttl-controller",
  "bootstrap-signer-controller",
  "token-cleaner-controller",
];

/** Annotation that hands a Node to kwok. */
export const kwokNodeAnnotation = { key: "kwok.x-k8s.io/node", value: "fake" } as const;

export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const log = options.log ?? (() => undefined);
  const started = Date.now();
  const timeoutMs = options.startTimeoutMs ?? 60_000;
  const binDir = options.binDir ?? (await resolveBinDir(log));
  const bin = async (name: string) => realpath(join(binDir, name));
  const dir = await mkdtemp(join(options.baseDir ?? tmpdir(), "brupop-cp-"));
  const pidFile = join(dir, "pids");
  await Promise.all(["pki", "logs", "etcd"].map((d) => mkdir(join(dir, d))));
  await writeFile(pidFile, "");
  const watchdog = startWatchdog(process.pid, pidFile, dir);
  const processes: ManagedProcess[] = [];
  const file = (...p: string[]) => join(dir, ...p);

  const stop = async () => {
    for (const p of [...processes].reverse()) await p.stop();
    await watchdog.stop();
    if (!options.keepDir) await rm(dir, { recursive: true, force: true });
  };

  try {
    log("generating certificates");
    const ca = await createCertificateAuthority("brupop-testenv-ca");
    const [serving, serviceAccountKey] = await Promise.all([
      ca.issue({
        commonName: "kube-apiserver",
        usages: ["server"],
        ipAddresses: ["127.0.0.1", "10.0.0.1"],
        dnsNames: ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"],
      }),
      generateKeyPair(),
    ]);
    await Promise.all([
      writeFile(file("pki", "ca.crt"), ca.certPem),
      writeFile(file("pki", "ca.key"), ca.keyPem, { mode: 0o600 }),
      writeFile(file("pki", "apiserver.crt"), serving.certPem),
      writeFile(file("pki", "apiserver.key"), serving.keyPem, { mode: 0o600 }),
      writeFile(file("pki", "sa.key"), serviceAccountKey.keyPem, { mode: 0o600 }),
      writeFile(file("pki", "sa.pub"), serviceAccountKey.publicKeyPem),
    ]);

    const start = async (name: string, binary: string, args: (ports: number[]) => string[], portCount: number) => {
      const ports = await Promise.all(Array.from({ length: portCount }, () => freePort()));
      const proc = startProcess(name, await bin(binary), args(ports), {
        logFile: file("logs", `${name}.log`),
        pidFile,
      });
      processes.push(proc);
      return { proc, ports };
    };

    log("starting etcd");
    const etcd = await start(
      "etcd",
      "etcd",
      ([client, peer]) => [
        "--name=testenv",
        `--data-dir=${file("etcd")}`,
        `--listen-client-urls=http://127.0.0.1:${client}`,
        `--advertise-client-urls=http://127.0.0.1:${client}`,
        `--listen-peer-urls=http://127.0.0.1:${peer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${peer}`,
        `--initial-cluster=testenv=http://127.0.0.1:${peer}`,
        "--unsafe-no-fsync=true",
        "--log-level=warn",
      ],
      2,
    );
    const etcdUrl = `http://127.0.0.1:${etcd.ports[0]}`;
    await waitFor(etcd.proc, timeoutMs, () => httpGet(`${etcdUrl}/health`));

    log("starting kube-apiserver");
    const apiserver = await start(
      "kube-apiserver",
      "kube-apiserver",
      ([port]) => [
        `--etcd-servers=${etcdUrl}`,
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        `--secure-port=${port}`,
        `--cert-dir=${file("pki")}`,
        `--tls-cert-file=${file("pki", "apiserver.crt")}`,
        `--tls-private-key-file=${file("pki", "apiserver.key")}`,
        `--client-ca-file=${file("pki", "ca.crt")}`,
        "--authorization-mode=RBAC",
        "--service-cluster-ip-range=10.0.0.0/24",
        "--allow-privileged=true",
        `--service-account-issuer=https://127.0.0.1:${port}`,
        `--service-account-key-file=${file("pki", "sa.pub")}`,
        `--service-account-signing-key-file=${file("pki", "sa.key")}`,
        "--profiling=false",
      ],
      1,
    );
    const server = `https://127.0.0.1:${apiserver.ports[0]}`;
    const admin = await clientIdentity(ca, "brupop-testenv-admin", ["system:masters"]);
    const tls = { ca: ca.certPem, cert: admin.certPem, key: admin.keyPem };
    await waitFor(apiserver.proc, timeoutMs, () => httpsGet(`${server}/readyz`, tls));
    const apiserverReadyMs = Date.now() - started;

    const writeKubeconfig = async (identity: ClientIdentity, name: string) => {
      const path = file(`${name}.kubeconfig`);
      await writeFile(path, kubeconfigYaml({ server, caPem: ca.certPem, identity, name }), { mode: 0o600 });
      return path;
    };
    const kubeconfigPath = await writeKubeconfig(admin, "admin");

    log("starting kube-controller-manager, kube-scheduler, kwok");
    const kcmConfig = await writeKubeconfig(await clientIdentity(ca, "system:kube-controller-manager"), "kcm");
    const kcm = await start(
      "kube-controller-manager",
      "kube-controller-manager",
      ([port]) => [
        `--kubeconfig=${kcmConfig}`,
        `--authentication-kubeconfig=${kcmConfig}`,
        `--authorization-kubeconfig=${kcmConfig}`,
        "--bind-address=127.0.0.1",
        `--secure-port=${port}`,
        "--leader-elect=false",
        `--controllers=*,${disabledControllers.map((c) => `-${c}`).join(",")}`,
        "--use-service-account-credentials=true",
        `--service-account-private-key-file=${file("pki", "sa.key")}`,
        `--root-ca-file=${file("pki", "ca.crt")}`,
        `--cluster-signing-cert-file=${file("pki", "ca.crt")}`,
        `--cluster-signing-key-file=${file("pki", "ca.key")}`,
      ],
      1,
    );
    const schedulerConfig = await writeKubeconfig(await clientIdentity(ca, "system:kube-scheduler"), "scheduler");
    const scheduler = await start(
      "kube-scheduler",
      "kube-scheduler",
      ([port]) => [
        `--kubeconfig=${schedulerConfig}`,
        `--authentication-kubeconfig=${schedulerConfig}`,
        `--authorization-kubeconfig=${schedulerConfig}`,
        "--bind-address=127.0.0.1",
        `--secure-port=${port}`,
        "--leader-elect=false",
      ],
      1,
    );
    // kwok acts for every kubelet of the simulated nodes, so it gets broad rights, as the kubelets' sum would.
    const kwokConfig = await writeKubeconfig(await clientIdentity(ca, "kwok", ["system:masters"]), "kwok");
    await writeFile(file("kwok.yaml"), await kwokConfiguration(binDir));
    const kwok = await start(
      "kwok",
      "kwok",
      ([port]) => [
        `--kubeconfig=${kwokConfig}`,
        `--config=${file("kwok.yaml")}`,
        `--manage-nodes-with-annotation-selector=${kwokNodeAnnotation.key}=${kwokNodeAnnotation.value}`,
        `--server-address=127.0.0.1:${port}`,
      ],
      1,
    );
    await waitFor(kcm.proc, timeoutMs, () => httpsGet(`https://127.0.0.1:${kcm.ports[0]}/healthz`, { ca: null }));
    await waitFor(scheduler.proc, timeoutMs, () =>
      httpsGet(`https://127.0.0.1:${scheduler.ports[0]}/healthz`, { ca: null }),
    );
    await waitFor(kwok.proc, timeoutMs, () => httpGet(`http://127.0.0.1:${kwok.ports[0]}/healthz`));
    // The service-account controller creating "default" shows the controllers are working.
    await waitFor(kcm.proc, timeoutMs, () =>
      httpsGet(`${server}/api/v1/namespaces/default/serviceaccounts/default`, tls),
    );
    const controllersReadyMs = Date.now() - started;
    log(`ready in ${(controllersReadyMs / 1000).toFixed(1)} s: ${server}`);

    return {
      server,
      dir,
      kubeconfigPath,
      caPem: ca.certPem,
      issuer: server,
      binDir,
      processes,
      timings: { apiserverReadyMs, controllersReadyMs },
      identity: (user, groups = []) => clientIdentity(ca, user, groups),
      writeKubeconfig,
      stop,
    };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}

/** How long a simulated kubelet takes to stop a deleted pod's containers before the pod object goes. */
export const POD_STOP_MS = 1_000;

/**
 * kwok's configuration: its own release's node and pod stages (copied there by provision), with one change: a
 * deleted pod goes after POD_STOP_MS, not at once. A real kubelet always takes a moment, and Kubernetes' controllers
 * rely on seeing the pod terminating: the disruption controller clears an evicted pod from its budget's
 * status.disruptedPods only then, and a StatefulSet's same-named replacement would otherwise hold the budget for its
 * 2-minute timeout.
 */
async function kwokConfiguration(binDir: string): Promise<string> {
  const stagesDir = join(binDir, "..", "kwok-stages");
  const stages = await Promise.all(
    (await readdir(stagesDir)).sort().map(async (f) => withPodStopDelay(await readFile(join(stagesDir, f), "utf8"))),
  );
  // Parallelism must be set when a configuration file is given (kwok defaults it to 0 then).
  const options = {
    nodeLeaseDurationSeconds: 40,
    nodeLeaseParallelism: 8,
    nodePlayStageParallelism: 8,
    podPlayStageParallelism: 8,
    podsOnNodeSyncParallelism: 4,
  };
  const header = stringify({ apiVersion: "config.kwok.x-k8s.io/v1alpha1", kind: "KwokConfiguration", options });
  return [header, ...stages].join("\n---\n");
}

export function withPodStopDelay(stageYaml: string): string {
  const stage = parse(stageYaml) as { metadata?: { name?: string }; spec?: { delay?: unknown } } | null;
  if (stage?.metadata?.name !== "pod-delete" || stage.spec === undefined || stage.spec.delay !== undefined) {
    return stageYaml;
  }
  stage.spec.delay = { durationMilliseconds: POD_STOP_MS };
  return stringify(stage);
}

async function clientIdentity(
  ca: CertificateAuthority,
  user: string,
  groups: readonly string[] = [],
): Promise<ClientIdentity> {
  const cert = await ca.issue({ commonName: user, organizations: groups, usages: ["client"] });
  return { user, groups, certPem: cert.certPem, keyPem: cert.keyPem };
}

/** Polls `probe` every 100 ms until it succeeds; fails fast, with the log's tail, when the process exits. */
async function waitFor(proc: ManagedProcess, timeoutMs: number, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!proc.running()) {
      throw new Error(`${proc.name} exited (${await proc.exited}) during start:\n${logTail(proc.logFile)}`);
    }
    if (await probe().catch(() => false)) return;
    await sleep(100);
  }
  throw new Error(`${proc.name} did not become healthy within ${timeoutMs} ms:\n${logTail(proc.logFile)}`);
}

function httpGet(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = httpRequest(url, { timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on("error", () => resolve(false));
    req.on("timeout", () => req.destroy());
    req.end();
  });
}

/** `ca: null` skips verification: the components' own serving certificates are self-signed. */
function httpsGet(url: string, tls: { ca: string | null; cert?: string; key?: string }): Promise<boolean> {
  return new Promise((resolve) => {
    const req = httpsRequest(
      url,
      {
        timeout: 2000,
        ...(tls.ca === null ? { rejectUnauthorized: false } : { ca: tls.ca }),
        ...(tls.cert === undefined ? {} : { cert: tls.cert, key: tls.key }),
      },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on("error", () => resolve(false));
    req.on("timeout", () => req.destroy());
    req.end();
  });
}
