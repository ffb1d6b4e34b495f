// The agent's BottlerocketShadow routes: create its node's shadow, and replace its status (brupop 1.4's routes).
import Type from "typebox";
import { BottlerocketShadowStatusSchema } from "../../api/bottlerocket-shadow.ts";
import { AGENT_ROUTES } from "../../api/constants.ts";
import type { AgentRouteModule } from "../auth/gate.ts";
import type { ShadowStore } from "../shadows.ts";

/** `If-Match: "123"`, `W/"123"` or `123` → 123. */
function ifMatchVersion(header: string | undefined): string | undefined {
  if (header === undefined || header.trim() === "" || header.trim() === "*") return undefined;
  return header
    .trim()
    .replace(/^W\//, "")
    .replace(/^"(.*)"$/, "$1");
}

export function shadowRoutes(shadows: Pick<ShadowStore, "create" | "replaceStatus">): AgentRouteModule {
  return (routes) => {
    // brupop's agent sends {"node_selector": …}; the node is the one the gate proved, so the body is ignored.
    routes.route({
      method: "POST",
      url: AGENT_ROUTES.shadow,
      body: "json",
      handler: async (request) => shadows.create(request.node),
    });

    routes.route({
      method: "PUT",
      url: AGENT_ROUTES.shadow,
      body: "json",
      schema: {
        body: BottlerocketShadowStatusSchema,
        headers: Type.Object({ "if-match": Type.Optional(Type.String()) }),
      },
      handler: async (request, reply) => {
        const version = await shadows.replaceStatus(
          request.node,
          request.body,
          ifMatchVersion(request.headers["if-match"]),
        );
        void reply.header("etag", `"${version}"`);
        return request.body; // brupop echoes the status
      },
    });
  };
}
