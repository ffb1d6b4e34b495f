// A simulated node's kubelet going down and coming back. kwok plays every kubelet; a node whose kubelet is down is
// handed back from kwok (its annotation removed, so kwok stops heartbeating it and stops acting on its pods) and
// reported NotReady, as the node lifecycle controller would once the heartbeats stop. Handing it back to kwok makes
// it Ready again (kwok's node-initialize stage). Meanwhile the simulated cluster runs none of the node's pods.
import { PatchStrategy, setHeaderOptions, type CoreV1Api } from "@kubernetes/client-node";
import { kwokNodeAnnotation } from "../control-plane/control-plane.ts";

const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);
const strategicMergePatch = setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch);

export async function stopKubelet(core: CoreV1Api, node: string): Promise<void> {
  await core.patchNode(
    { name: node, body: { metadata: { annotations: { [kwokNodeAnnotation.key]: null } } } },
    mergePatch,
  );
  const now = new Date();
  await core.patchNodeStatus(
    {
      name: node,
      body: {
        status: {
          conditions: [
            {
              type: "Ready",
              status: "False",
              reason: "KubeletNotReady",
              message: "simulated: the kubelet stopped posting node status",
              lastHeartbeatTime: now,
              lastTransitionTime: now,
            },
          ],
        },
      },
    },
    strategicMergePatch,
  );
}

export async function startKubelet(core: CoreV1Api, node: string): Promise<void> {
  await core.patchNode(
    { name: node, body: { metadata: { annotations: { [kwokNodeAnnotation.key]: kwokNodeAnnotation.value } } } },
    mergePatch,
  );
}
