// `--watch`: redraw on every change of a shadow, a node or the policy, and at least every 30 s (times and windows
// move on their own). Changes are coalesced: a burst of Events leads to one redraw. Watches that end (timeouts,
// API server restarts) are restarted after a second; errors of the redraw itself are printed, not fatal.
import { Watch, type KubeConfig } from "@kubernetes/client-node";
import { API_GROUP, LABEL_UPDATER_INTERFACE_VERSION, PLURAL, VERSION_V2 } from "../api/constants.ts";
import { UPDATE_POLICY_PLURAL, UPDATE_POLICY_VERSION } from "../api/update-policy-names.ts";
import { CliError } from "./kube.ts";

const COALESCE_MS = 250;
const PERIODIC_MS = 30_000;
const RESTART_MS = 1_000;

export async function watchFleet(kc: KubeConfig, namespace: string, redraw: () => Promise<void>): Promise<void> {
  const watch = new Watch(kc);
  const stop = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let drawing: Promise<void> = Promise.resolve();

  const draw = () => {
    drawing = drawing.then(redraw).catch((err: unknown) => {
      if (err instanceof CliError) console.error(`brupop status: ${err.message}`);
      else throw err;
    });
    return drawing;
  };
  const schedule = () => {
    clearTimeout(timer);
    timer = setTimeout(() => void draw(), COALESCE_MS);
  };

  const watched: [string, Record<string, string>][] = [
    [`/apis/${API_GROUP}/${VERSION_V2}/namespaces/${namespace}/${PLURAL}`, {}],
    // Labelled nodes only (any value): a cordon or a label change matters, other nodes' heartbeats do not.
    ["/api/v1/nodes", { labelSelector: LABEL_UPDATER_INTERFACE_VERSION }],
    [`/apis/${API_GROUP}/${UPDATE_POLICY_VERSION}/namespaces/${namespace}/${UPDATE_POLICY_PLURAL}`, {}],
  ];
  const follow = (path: string, query: Record<string, string>): void => {
    if (stop.signal.aborted) return;
    const again = () => {
      if (!stop.signal.aborted) setTimeout(() => follow(path, query), RESTART_MS).unref();
    };
    watch
      .watch(path, query, () => schedule(), again)
      .then((request) => stop.signal.addEventListener("abort", () => request.abort()))
      .catch(again);
  };

  await draw();
  for (const [path, query] of watched) follow(path, query);
  const periodic = setInterval(() => void draw(), PERIODIC_MS);

  await new Promise<void>((resolve) => {
    const end = () => {
      stop.abort();
      clearInterval(periodic);
      clearTimeout(timer);
      resolve();
    };
    process.once("SIGINT", end);
    process.once("SIGTERM", end);
  });
  await drawing;
}
