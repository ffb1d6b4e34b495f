// The simulated fleet as `brupop status` would report it: the controller's own decisions (src/cli/fleet-report.ts)
// run on what a FleetObserver has seen, so that the demo and chaos runs say why each node waits in the same words
// as the CLI (budget-full, backoff until …, quarantined), without a round trip to the API server per redraw.
import type { BottlerocketShadow } from "../../src/api/index.ts";
import type { V1Node } from "@kubernetes/client-node";
import { buildFleetReport, type FleetReport, type NodeRow } from "../../src/cli/fleet-report.ts";
import type { ControllerSettings } from "../../src/cli/fleet.ts";
import { relative } from "../../src/cli/render.ts";
import { shortReason } from "../../src/cli/status-view.ts";
import { managedNodeSelector } from "../../src/core/model.ts";

export interface ObservedFleet {
  shadows(): readonly BottlerocketShadow[];
  nodes(): readonly V1Node[];
}

/**
 * The fleet decision on the observed shadows and nodes. `controller` is the controller Deployment's environment as
 * `brupop status` reads it (FleetReader.controllerSettings): its budget, backoff unit and so on.
 */
export function observedFleetReport(
  observed: ObservedFleet,
  namespace: string,
  controller: ControllerSettings,
  now: Date,
): FleetReport {
  return buildFleetReport(
    {
      namespace,
      shadows: [...observed.shadows()],
      nodes: [...observed.nodes()],
      policy: null,
      controller,
      nodeSelector: managedNodeSelector(null),
    },
    now,
  );
}

/**
 * Why a node is where it is, in a few words: the WHY column of `brupop status`, with a backoff's end either relative
 * (a redrawn screen) or as a clock time (a line that must not change every second).
 */
export function reasonText(row: NodeRow, now: Date, clock: "relative" | "absolute"): string {
  const failures = row.failures > 0 ? `, ${row.failures} failure${row.failures === 1 ? "" : "s"}` : "";
  switch (row.reason.code) {
    case "backoff":
      return clock === "relative"
        ? `backoff (retry ${relative(row.reason.until, now)}${failures})`
        : `backoff until ${row.reason.until.toISOString().slice(11, 19)}${failures}`;
    case "quarantined":
      return `quarantined after ${row.reason.failures} failures`;
    default:
      return shortReason(row.reason, now) + failures;
  }
}

/**
 * "bottlerocket-3 (backoff until 14:05:12, 1 failure), bottlerocket-7 (in-progress)": the nodes still awaited and
 * why, for progress lines. `problems` says what else keeps a node from counting as done (e.g. its host is down).
 */
export function waitingFor(
  report: FleetReport,
  nodes: readonly string[],
  problems: (node: string) => string[],
): string {
  const MAX = 6;
  const described = nodes.slice(0, MAX).map((node) => {
    const row = report.rows.find((r) => r.node === node);
    const why =
      row === undefined
        ? "no shadow"
        : row.reason.code === "up-to-date"
          ? undefined
          : reasonText(row, report.now, "absolute");
    return `${node} (${why ?? problems(node)[0] ?? "settling"})`;
  });
  return described.join(", ") + (nodes.length > MAX ? `, and ${nodes.length - MAX} more` : "");
}
