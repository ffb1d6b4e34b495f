// The operator's image as `npm run image` builds it (dist/image), built now when missing or made from other inputs.
import { mkdir, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { V1Container, V1Pod, V1PodSpec } from "@kubernetes/client-node";
import { operatorObjects } from "../../src/deploy/manifest.ts";
import { resolveOptions, type DeployOptionsInput } from "../../src/deploy/options.ts";
import { COMPONENT_NAMES, type ComponentName } from "../../src/deploy/pod.ts";
import { COMPONENT, LABEL_COMPONENT } from "../../src/api/index.ts";
import { resolveEnv } from "../../sim/cluster/pod-runner.ts";
import { DEFAULT_OUT, buildImage, currentBuild, type BuildReport } from "../../scripts/image/build.ts";

export async function builtImage(): Promise<{ layout: string; report: BuildReport }> {
  // One build at a time: test files run in parallel, and each may find the image missing.
  const lock = `${DEFAULT_OUT}.lock`;
  await mkdir(dirname(lock), { recursive: true });
  const deadline = Date.now() + 600_000;
  for (;;) {
    try {
      await mkdir(lock);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      if (Date.now() > deadline)
        throw new Error(`${lock} held for 10 minutes: remove it if no build runs`, { cause: err });
      await sleep(500);
    }
  }
  try {
    const report =
      (await currentBuild()) ?? (await buildImage({ log: (line) => console.error(`[npm run image] ${line}`) }));
    return { layout: join(DEFAULT_OUT, "oci"), report };
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

export interface ManifestContainer {
  readonly pod: V1PodSpec;
  readonly container: V1Container;
}

/** Each component's pod spec and container in the generated install manifest. */
export function manifestContainers(input: DeployOptionsInput = {}): Record<ComponentName, ManifestContainer> {
  const found: Partial<Record<ComponentName, ManifestContainer>> = {};
  for (const object of operatorObjects(resolveOptions(input)) as {
    kind?: string;
    spec?: { template?: { metadata?: { labels?: Record<string, string> }; spec?: V1PodSpec } };
  }[]) {
    const pod = object.spec?.template?.spec;
    const labels = object.spec?.template?.metadata?.labels ?? {};
    const component = COMPONENT_NAMES.find((c) => labels[LABEL_COMPONENT] === COMPONENT[c]);
    const container = pod?.containers[0];
    if (pod && component && container) found[component] = { pod, container };
  }
  for (const c of COMPONENT_NAMES) if (!found[c]) throw new Error(`no manifest pod runs the ${c}`);
  return found as Record<ComponentName, ManifestContainer>;
}

/** The container's env as the kubelet resolves it for a pod named `name` on `nodeName`. */
export function podEnv(
  m: ManifestContainer,
  name: string,
  namespace: string,
  nodeName: string,
): Record<string, string> {
  const pod: V1Pod = { metadata: { name, namespace, uid: `uid-${name}` }, spec: { ...m.pod, nodeName } };
  return resolveEnv(pod, m.container);
}

/** The user a container runs as: the container's securityContext, else the pod's, else the image's. */
export function podUser(m: ManifestContainer): { uid: number; gid: number } | undefined {
  const uid = m.container.securityContext?.runAsUser ?? m.pod.securityContext?.runAsUser;
  const gid = m.container.securityContext?.runAsGroup ?? m.pod.securityContext?.runAsGroup ?? uid;
  return uid === undefined || gid === undefined ? undefined : { uid, gid };
}
