import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { POD_STOP_MS, withPodStopDelay } from "./control-plane.ts";

const podDelete = `apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-delete
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'Exists'
  next:
    delete: true
`;

describe("withPodStopDelay", () => {
  it("makes kwok's pod-delete stage wait, as a kubelet stopping containers would, and keeps the rest", () => {
    const spec = (yaml: string) => (parse(yaml) as { spec: Record<string, unknown> }).spec;
    const delayed = spec(withPodStopDelay(podDelete));
    expect(delayed.delay).toEqual({ durationMilliseconds: POD_STOP_MS });
    expect(delayed.next).toEqual({ delete: true });
    expect(delayed.selector).toEqual(spec(podDelete).selector);
  });

  it("leaves other stages, and a pod-delete stage that already has a delay, as they are", () => {
    const ready = podDelete.replace("pod-delete", "pod-ready");
    expect(withPodStopDelay(ready)).toBe(ready);
    const delayed = podDelete.replace("  next:", "  delay:\n    durationMilliseconds: 5000\n  next:");
    expect(withPodStopDelay(delayed)).toBe(delayed);
  });
});
