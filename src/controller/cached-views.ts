// The views src/core decides on (src/core/views.ts), made once per cached object; the fleet pass and the node
// reconcile both take theirs here. A fleet pass maps every Node and shadow of the fleet, several times a second in a
// large rollout, and profiles of the 1,000-node bench showed the mapping (with its timestamp parsing) as a tenth of
// the controller's busy time, and more in garbage. The informers replace an object when it changes and never edit
// one they hold (src/kube/informer.ts), so the object itself is the key; an object read afresh gets its own view.
import type { V1Node } from "@kubernetes/client-node";
import type { BottlerocketShadow } from "../api/bottlerocket-shadow.ts";
import type { NodeView, ShadowView } from "../core/model.ts";
import { toNodeView, toShadowView } from "../core/views.ts";

const nodeViews = new WeakMap<V1Node, NodeView | undefined>();
const shadowViews = new WeakMap<BottlerocketShadow, ShadowView | undefined>();

export function nodeViewOf(node: V1Node): NodeView | undefined {
  if (nodeViews.has(node)) return nodeViews.get(node);
  const view = toNodeView(node);
  nodeViews.set(node, view);
  return view;
}

export function shadowViewOf(shadow: BottlerocketShadow): ShadowView | undefined {
  if (shadowViews.has(shadow)) return shadowViews.get(shadow);
  const view = toShadowView(shadow);
  shadowViews.set(shadow, view);
  return view;
}
