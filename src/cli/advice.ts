// "Why is node X not updating, and what can I do?" in plain words: one sentence for each of the controller's reasons
// (src/core/select.ts codes) and the next step a person can take, with the exact command where there is one.
import { LABEL_UPDATER_INTERFACE_VERSION, UPDATER_INTERFACE_VERSION } from "../api/constants.ts";
import { UPDATE_POLICY_NAME } from "../api/update-policy-names.ts";
import { KARPENTER_DISRUPTED_TAINT } from "../core/disruptors.ts";
import { ANNOTATIONS } from "../core/model.ts";
import { describeFailedNodes, type HaltDecision } from "../core/halt.ts";
import { ENV, type PolicySource } from "../core/policy.ts";
import { describeGroup } from "../core/topology-budget.ts";
import { NAMES } from "../deploy/names.ts";
import type { RowReason } from "./fleet-report.ts";
import { when } from "./render.ts";

export interface AgentPod {
  name: string;
  phase: string;
  ready: boolean;
}

export interface AdviceContext {
  node: string;
  namespace: string;
  now: Date;
  /** Consecutive failures (crashes + timeouts) and the agent's last failure reason. */
  failures: number;
  failureReason: string | null;
  /** spec.state and status.current_state, when the shadow has them. */
  targetState: string | null;
  state: string | null;
  /** Where the paused / budget / schedule settings came from (resolveFleetPolicy's sources). */
  sources?: Partial<Record<"paused" | "budget" | "schedule" | "downgrade", PolicySource>>;
  /** The agent pods on the node; undefined when unknown (not listed or not allowed). */
  agentPods?: readonly AgentPod[];
  /** Nodes using the budget now (for budget-full). */
  updatingNodes?: readonly string[];
  /** Whether the Node object exists and carries the updater-interface label. */
  nodeExists?: boolean;
  nodeLabelled?: boolean;
  osImage?: string;
  /** The automatic halt, when the policy sets one (for halted). */
  halt?: HaltDecision | null;
}

export interface Advice {
  /** One sentence: why the node does not start (or what it is doing). */
  why: string;
  /** What a person can do, most useful first; empty when nothing needs doing. */
  next: string[];
}

const POLICY = (ns: string) => `kubectl -n ${ns} patch brupolicy ${UPDATE_POLICY_NAME} --type merge -p`;

function agentLogs(ctx: AdviceContext): string {
  const pod = ctx.agentPods?.[0];
  return pod === undefined
    ? `find the agent pod: kubectl -n ${ctx.namespace} get pods -l brupop.bottlerocket.aws/component=agent --field-selector spec.nodeName=${ctx.node}; then kubectl logs it`
    : `look at the agent's logs: kubectl -n ${ctx.namespace} logs ${pod.name}`;
}

function agentPodProblem(ctx: AdviceContext): string | null {
  if (ctx.agentPods === undefined) return null;
  if (ctx.agentPods.length === 0)
    return `no agent pod on this node (DaemonSet ${NAMES.agentDaemonSet} in ${ctx.namespace})`;
  const notReady = ctx.agentPods.find((p) => !p.ready);
  return notReady === undefined ? null : `agent pod ${notReady.name} is ${notReady.phase} and not ready`;
}

function fromSource(source: PolicySource | undefined, env: string, field: string): string {
  if (source === "policy") return `policy resource field spec.${field}`;
  if (source === "env") return `controller variable ${env}`;
  return "the default";
}

export function advise(reason: RowReason, ctx: AdviceContext): Advice {
  const { node, namespace: ns, now } = ctx;
  // The failure's text is long and is shown once, with the node's details; the sentence only points at it.
  const lastFailure = ctx.failureReason === null ? "" : " Its last failure's reason is under Details.";
  switch (reason.code) {
    case "starting":
      return {
        why: `nothing blocks it: the controller starts the update from ${reason.from} to ${reason.to} on its next pass.`,
        next: [`watch it: brupop status --watch -n ${ns}`],
      };
    case "policy-invalid":
      return {
        why: `${reason.message}.`,
        next: [
          `fix the policy: kubectl -n ${ns} edit brupolicy ${UPDATE_POLICY_NAME} (or the controller's environment)`,
        ],
      };
    case "not-managed": {
      if (ctx.nodeExists === false) {
        return {
          why: `node ${node} does not exist; its BottlerocketShadow is left over and is garbage-collected with the Node.`,
          next: [],
        };
      }
      if (ctx.nodeLabelled === true) {
        return {
          why: `node ${node} is labelled but outside the controller's MANAGED_NODE_SELECTOR, so this controller does not manage it.`,
          next: [`check MANAGED_NODE_SELECTOR on Deployment ${NAMES.controllerDeployment} in ${ns}`],
        };
      }
      return {
        why: `node ${node} is not labelled ${LABEL_UPDATER_INTERFACE_VERSION}=${UPDATER_INTERFACE_VERSION}, so brupop does not manage it.`,
        next: [
          `label it: kubectl label node ${node} ${LABEL_UPDATER_INTERFACE_VERSION}=${UPDATER_INTERFACE_VERSION}`,
          "or label every Bottlerocket node: brupop label --all-bottlerocket",
        ],
      };
    }
    case "agent-missing": {
      const problem = agentPodProblem(ctx);
      return {
        why:
          problem === null
            ? `the node has no BottlerocketShadow yet: its agent has not registered it.`
            : `the node has no BottlerocketShadow: ${problem}.`,
        next:
          ctx.agentPods !== undefined && ctx.agentPods.length === 0
            ? [
                `check why the DaemonSet does not run there: kubectl -n ${ns} describe daemonset ${NAMES.agentDaemonSet} (node taints, tolerations, nodeSelector kubernetes.io/os=linux, arch amd64/arm64)`,
              ]
            : [agentLogs(ctx)],
      };
    }
    case "no-status":
      return {
        why: `the agent has not reported a status for this node yet.`,
        next: [agentPodProblem(ctx) ?? "wait a few seconds (the agent reports every 5 s)", agentLogs(ctx)],
      };
    case "invalid-status":
      return { why: `the agent's report is unusable: ${reason.message}.`, next: [agentLogs(ctx)] };
    case "in-progress": {
      const draining = ctx.targetState === "RebootedIntoUpdate" && ctx.state !== "RebootedIntoUpdate";
      return {
        why: `updating now: ${reason.message}.`,
        next: draining
          ? [
              `if this takes long, a PodDisruptionBudget may block the drain: kubectl get pdb -A; kubectl get pods -A --field-selector spec.nodeName=${node}`,
            ]
          : [`watch it: brupop status --watch -n ${ns}`],
      };
    }
    case "stuck":
      return {
        why: `${reason.message}.`,
        next: [
          agentPodProblem(ctx) ?? "the agent pod exists but does not report",
          agentLogs(ctx),
          "a Ready node that the operator's drain cordoned is uncordoned by the controller; a NotReady one keeps its place in the budget until it comes back or is deleted",
        ],
      };
    case "up-to-date":
      return {
        why: `the host has no update available: ${reason.message}.`,
        next: [
          "nothing to do. The host chooses its update (waves, settings.updates.version-lock, ignore-waves); check them with apiclient on the host if you expected one",
        ],
      };
    case "downgrade-refused":
      return {
        why: `${reason.message}.`,
        next: [
          `allow it: ${POLICY(ns)} '{"spec":{"allowDowngrade":true}}'`,
          "or lift settings.updates.version-lock on the host",
        ],
      };
    case "quarantined":
      return {
        why: `quarantined after ${reason.failures} failures: it will not be retried until someone looks.${lastFailure}`,
        next: [`first ${agentLogs(ctx)}`, `then acknowledge and retry: brupop unquarantine ${node} -n ${ns}`],
      };
    case "opted-out": {
      const annotation = ANNOTATIONS.nodePaused;
      return {
        why: `paused by annotation ${annotation} on node ${node}.`,
        next: [`remove it with kubectl annotate node ${node} ${annotation}-`, `or: brupop resume --node ${node}`],
      };
    }
    case "karpenter-disrupting":
      return {
        why: `Karpenter is taking this node away (taint ${KARPENTER_DISRUPTED_TAINT}); the update starts only if Karpenter gives up and removes the taint.`,
        next: [`nothing to do; to see Karpenter's reason: kubectl get nodeclaims; kubectl describe node ${node}`],
      };
    case "node-too-young":
      return {
        why: `the node is younger than the policy's minimum node age (spec.minNodeAge); it may start from ${when(reason.eligibleAt, now)}.`,
        next: [
          "wait; it becomes eligible by itself",
          `or lower the minimum: ${POLICY(ns)} '{"spec":{"minNodeAge":"0s"}}'`,
        ],
      };
    case "backoff":
      return {
        why: `backing off after ${ctx.failures} failure${ctx.failures === 1 ? "" : "s"} until ${when(reason.until, now)}.${lastFailure}`,
        next: ["wait; it retries by itself", `to see why it failed, ${agentLogs(ctx)}`],
      };
    case "halted": {
      const failed = ctx.halt?.failedNodes ?? [];
      // Each with what failed on it, as the policy's Halted condition names them.
      const named = describeFailedNodes(failed, ctx.halt?.reasons ?? new Map<string, string>());
      const versions = ctx.halt === undefined || ctx.halt === null ? [] : ctx.halt.versions;
      const other = failed.find((n) => n !== node);
      return {
        why:
          `the rollout halted itself: ${failed.length} node${failed.length === 1 ? "" : "s"} failed` +
          (versions.length > 0 ? ` updating to ${versions.join(", ")}` : "") +
          `, more than the policy's spec.maxFailedNodes allows (${ctx.halt?.limit ?? "?"})` +
          (failed.length > 0 ? `: ${named}` : "") +
          `. No new update starts until someone resumes${failed.includes(node) ? "; this node is one of them" : ""}.`,
        next: [
          ...(other === undefined ? [] : [`find out why they failed: brupop explain ${other} -n ${ns}`]),
          `then resume (failures from before it no longer count): brupop resume -n ${ns}`,
        ],
      };
    }
    case "paused": {
      const source = ctx.sources?.paused;
      return {
        why: `updates are paused for the whole fleet (${fromSource(source, ENV.updatesPaused, "paused")}); updates in flight finish.`,
        next: [`resume: brupop resume -n ${ns}`],
      };
    }
    case "dry-run":
      return {
        why: `the fleet is in dry run (policy spec.dryRun): the controller would start this node now (${reason.message.replace(/^dry run: /, "")}), and publishes its plan instead.`,
        next: [
          `see the plan: brupop plan -n ${ns}`,
          `start the rollout as planned: kubectl -n ${ns} patch brupolicy ${UPDATE_POLICY_NAME} --type merge -p '{"spec":{"dryRun":false}}'`,
        ],
      };
    case "outside-window":
      return {
        why:
          reason.nextOpen === null
            ? `outside the update window, and it never opens again: ${reason.message}.`
            : `outside the update window; next window opens at ${when(reason.nextOpen, now)}.`,
        next: [
          "wait for the window",
          `or change it (${fromSource(ctx.sources?.schedule, ENV.schedulerCronExpression, "windows")}): kubectl -n ${ns} edit brupolicy ${UPDATE_POLICY_NAME}`,
        ],
      };
    case "budget-full": {
      const limit = Number.isFinite(reason.limit) ? String(reason.limit) : "unlimited";
      const busy = ctx.updatingNodes?.filter((n) => n !== node) ?? [];
      return {
        why:
          `the update budget is full: ${reason.inUse} of ${limit} node${reason.limit === 1 ? "" : "s"} updating` +
          (busy.length > 0 ? ` (${busy.slice(0, 5).join(", ")}${busy.length > 5 ? ", …" : ""}).` : "."),
        next: [
          "wait for them to finish",
          `or raise it (${fromSource(ctx.sources?.budget, ENV.maxConcurrentUpdate, "maxConcurrentUpdates")}): ${POLICY(ns)} '{"spec":{"maxConcurrentUpdates":${reason.limit + 1}}}'`,
        ],
      };
    }
    case "controller-node-alone":
      return {
        why: "the controller runs on this node, so it updates alone, after the nodes updating now: drained, the controller needs another node that is neither cordoned nor rebooting.",
        next: ["wait: it starts by itself once the other nodes have finished"],
      };
    case "topology-budget-full": {
      const group = describeGroup(reason.topologyKey, reason.value);
      return {
        why:
          `the topology budget of ${reason.topologyKey} is full for this node's group (${group}): ` +
          `${reason.inUse} of ${reason.limit} node${reason.limit === 1 ? "" : "s"} updating there; nodes elsewhere may start.`,
        next: [
          `wait for them to finish; to see the nodes of each group: kubectl get nodes -L ${reason.topologyKey}`,
          `or change the topology budget (policy resource field spec.topologyBudgets): kubectl -n ${ns} edit brupolicy ${UPDATE_POLICY_NAME}`,
        ],
      };
    }
    // ---- Canaries, soak and the version pin ----
    case "version-pinned":
      return {
        why: `${reason.message}.`,
        next: [
          `raise or remove the pin (policy resource field spec.maxVersion): kubectl -n ${ns} edit brupolicy ${UPDATE_POLICY_NAME}`,
        ],
      };
    case "canary-pending":
      return {
        why: `the canaries go first: ${reason.message}.`,
        next: [
          `watch them: brupop status -n ${ns} (the Canary line)`,
          `or change the canary group (policy resource field spec.canary): kubectl -n ${ns} edit brupolicy ${UPDATE_POLICY_NAME}`,
        ],
      };
    case "soaking":
      return {
        why: `the canaries run ${reason.version} healthy; the other nodes wait for the soak, which ends at ${when(reason.until, now)}.`,
        next: [
          "wait; the soak ends by itself",
          `or shorten it (policy resource field spec.canary.soak): kubectl -n ${ns} edit brupolicy ${UPDATE_POLICY_NAME}`,
        ],
      };
    case "canary-failed":
      return {
        why: `${reason.message}.`,
        next: [
          "find out why: brupop explain <canary node> -n " + ns,
          "a failed canary retries after its backoff; once it runs the version healthy the soak starts",
          `a quarantined canary retries after: brupop unquarantine <canary node> -n ${ns}`,
        ],
      };
  }
}
