// Coordination with other disruptors against the real API server: the policy's fields are checked by the CRD (a 422
// naming the field), and a controller that starts on a cluster left as a crash or another controller left it puts
// the do-not-disrupt annotations right: a node in an update it did not start gets them, a node that finished while
// no controller ran loses those the operator added, and a person's own annotation is never touched.
// (The whole rollout with a leader crash, seen from the Nodes: test/e2e/disruptors.test.ts.)
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { eventually, useCluster, type TestCluster } from "../support/cluster.ts";
import { installOperatorCrds, startAgents, type SimulatedAgent } from "../../sim/stand-ins/status-agents.ts";
import { testControllerConfig } from "../support/controller-config.ts";
import { API_GROUP, PLURAL, VERSION_V2, brsName } from "../../src/api/constants.ts";
import { formatTimestamp } from "../../src/api/timestamps.ts";
import type { BottlerocketUpdatePolicy, UpdatePolicyResourceSpec } from "../../src/api/update-policy.ts";
import { UPDATE_POLICY_NAME, UPDATE_POLICY_PLURAL, UPDATE_POLICY_VERSION } from "../../src/api/update-policy-names.ts";
import { setUpdatePolicy } from "../../sim/cluster/update-policy.ts";
import type { BottlerocketShadow } from "../../src/api/bottlerocket-shadow.ts";
import { Controller } from "../../src/controller/controller.ts";

const KARPENTER = "karpenter.sh/do-not-disrupt";
const CA = "cluster-autoscaler.kubernetes.io/scale-down-disabled";
const ADDED = "brupop.bottlerocket.aws/added-annotations";
const MERGE_PATCH = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

let t: TestCluster;
let custom: CustomObjectsApi;
beforeAll(async () => {
  t = await useCluster(import.meta.url);
  custom = t.kc.makeApiClient(CustomObjectsApi);
  await installOperatorCrds(t.kc);
});
afterAll(() => t.cleanup());

describe("the coordination fields at the API server", () => {
  const stored = () =>
    custom.getNamespacedCustomObject({
      group: API_GROUP,
      version: UPDATE_POLICY_VERSION,
      namespace: t.namespace,
      plural: UPDATE_POLICY_PLURAL,
      name: UPDATE_POLICY_NAME,
    }) as Promise<BottlerocketUpdatePolicy>;

  it.each([
    ["annotateDoNotDisrupt that is no boolean", { annotateDoNotDisrupt: "yes" }, /spec\.annotateDoNotDisrupt/],
    ["minNodeAge that is no duration", { minNodeAge: "an hour" }, /spec\.minNodeAge/],
    ["minNodeAge with units out of order", { minNodeAge: "30m1h" }, /spec\.minNodeAge/],
    ["minNodeAge as a number", { minNodeAge: 3600 }, /spec\.minNodeAge/],
    // The controller would refuse these (and start nothing); the CRD's rule refuses them first.
    ["minNodeAge over a year", { minNodeAge: "400d" }, /spec\.minNodeAge.*must be at most 365d/],
    ["minNodeAge a second over a year", { minNodeAge: "8760h1s" }, /spec\.minNodeAge.*must be at most 365d/],
    ["minNodeAge in too many seconds", { minNodeAge: "99999999999999999999s" }, /spec\.minNodeAge.*365d/],
  ])("refuses %s with a 422 naming the field, and stores nothing", async (_what, spec, field) => {
    const attempt = setUpdatePolicy(t.kc, t.namespace, spec as unknown as UpdatePolicyResourceSpec);
    await expect(attempt).rejects.toMatchObject({ code: 422 });
    await expect(attempt).rejects.toThrow(field);
    await expect(stored()).rejects.toMatchObject({ code: 404 });
  });

  it("accepts them", async () => {
    await setUpdatePolicy(t.kc, t.namespace, { annotateDoNotDisrupt: false, minNodeAge: "1d12h" });
    expect((await stored()).spec).toEqual({ annotateDoNotDisrupt: false, minNodeAge: "1d12h" });
  });

  it.each(["365d", "8760h", "364d23h59m60s", "0s"])("accepts minNodeAge %s (at most a year)", async (age) => {
    await setUpdatePolicy(t.kc, t.namespace, { minNodeAge: age });
    expect((await stored()).spec).toEqual({ minNodeAge: age });
  });
});

describe("a controller that takes over a cluster left by a crash", () => {
  let controller: Controller | undefined;
  let agents: SimulatedAgent[] = [];
  afterAll(async () => {
    await controller?.stop();
    await Promise.all(agents.map((a) => a.stop()));
  });

  const annotations = async (node: string) => (await t.core.readNode({ name: node })).metadata?.annotations ?? {};
  const annotate = (node: string, values: Record<string, string | null>, fieldManager: string) =>
    t.core.patchNode({ name: node, body: { metadata: { annotations: values } }, fieldManager }, MERGE_PATCH);

  it("annotates a node in an update it did not start, cleans one that finished, leaves a user's alone", async () => {
    const [inFlight, finished, users] = await t.createNodes(3, { from: 0 });
    if (inFlight === undefined || finished === undefined || users === undefined) throw new Error("three nodes");
    // inFlight: started by an earlier controller (without these annotations), its agent working slowly on it.
    // finished: up to date, but still carrying what an earlier leader added before it crashed.
    // users: its owner's own do-not-disrupt, set as kubectl annotate would; it wants the update.
    agents = [
      ...(await startAgents([inFlight], { ...agentOptions(), behaviour: () => "stuck" })),
      ...(await startAgents([finished], { ...agentOptions(), targetVersion: "1.0.0" })),
      ...(await startAgents([users], agentOptions())),
    ];
    await custom.patchNamespacedCustomObject(
      {
        group: API_GROUP,
        version: VERSION_V2,
        namespace: t.namespace,
        plural: PLURAL,
        name: brsName(inFlight),
        body: {
          spec: {
            state: "StagedAndPerformedUpdate",
            version: "1.2.0",
            state_transition_timestamp: formatTimestamp(new Date()),
          },
        },
      },
      MERGE_PATCH,
    );
    await annotate(finished, { [KARPENTER]: "true", [CA]: "true", [ADDED]: `${CA},${KARPENTER}` }, "brupop-controller");
    await annotate(users, { [KARPENTER]: "true" }, "kubectl-annotate");
    await setUpdatePolicy(t.kc, t.namespace, {}); // the defaults: annotate, no minimum age

    controller = new Controller({
      client: t.client,
      config: testControllerConfig(t, "replica-a", { MAX_CONCURRENT_UPDATE: "2" }),
      onLeadershipLost: () => undefined,
    });
    await controller.start();
    await controller.whenLeading();

    await eventually("the node in flight annotated", async () => {
      const a = await annotations(inFlight);
      return a[KARPENTER] === "true" && a[CA] === "true" ? a : undefined;
    });
    await eventually("the finished node's leftovers removed", async () => {
      const a = await annotations(finished);
      return a[KARPENTER] === undefined && a[CA] === undefined && a[ADDED] === undefined ? true : undefined;
    });
    // users updates (its agent follows), and ends with its own annotation only.
    await eventually(
      "the user's node updated",
      async () => {
        const shadow = (await custom.getNamespacedCustomObject({
          group: API_GROUP,
          version: VERSION_V2,
          namespace: t.namespace,
          plural: PLURAL,
          name: brsName(users),
        })) as BottlerocketShadow;
        return shadow.spec.state === "Idle" && shadow.status?.current_version === "1.2.0" ? true : undefined;
      },
      60_000,
    );
    await eventually("the operator's annotation on the user's node removed", async () =>
      (await annotations(users))[CA] === undefined ? true : undefined,
    );
    const node = await t.core.readNode({ name: users });
    expect(node.metadata?.annotations?.[KARPENTER]).toBe("true");
    const owner = node.metadata?.managedFields?.find(
      (f) =>
        (f.fieldsV1 as Record<string, Record<string, Record<string, unknown>>>)["f:metadata"]?.["f:annotations"]?.[
          `f:${KARPENTER}`
        ] !== undefined,
    );
    expect(owner?.manager).toBe("kubectl-annotate");
    // The node in flight keeps them as long as it is in flight.
    expect(await annotations(inFlight)).toMatchObject({ [KARPENTER]: "true", [CA]: "true" });
  });
});

function agentOptions() {
  return {
    kc: t.kc,
    core: t.core,
    namespace: t.namespace,
    currentVersion: "1.0.0",
    targetVersion: "1.2.0",
    stepDelayMs: [100, 200] as const,
  };
}
