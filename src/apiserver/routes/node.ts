// The agent's Node routes: uncordon (which ends any drain of the node) and the load-balancer exclusion label.
import { AGENT_ROUTES } from "../../api/constants.ts";
import type { AgentRouteModule } from "../auth/gate.ts";
import type { DrainRegistry } from "../drain/registry.ts";
import { kubeCall } from "../errors.ts";
import type { NodeActions } from "../node-actions.ts";

export function nodeRoutes(nodes: NodeActions, drains: Pick<DrainRegistry, "cancel">): AgentRouteModule {
  return (routes) => {
    routes.route({
      method: "POST",
      url: AGENT_ROUTES.uncordon,
      body: "none",
      handler: async ({ node }, reply) => {
        // An uncordon ends any drain of the node: the agent has given up on it or finished with the node.
        await drains.cancel(node.name, "the agent asked to uncordon the node");
        await kubeCall(() => nodes.uncordon(node.name), `uncordoning ${node.name}`);
        return reply.code(200).send();
      },
    });

    for (const [url, excluded] of [
      [AGENT_ROUTES.excludeFromLb, true],
      [AGENT_ROUTES.removeExclusionFromLb, false],
    ] as const) {
      routes.route({
        method: "POST",
        url,
        body: "none",
        handler: async ({ node }, reply) => {
          await kubeCall(() => nodes.setExcludedFromLoadBalancers(node.name, excluded), `labelling ${node.name}`);
          return reply.code(200).send();
        },
      });
    }
  };
}
