// The fleet policy resource, BottlerocketUpdatePolicy: a namespaced singleton (named `default`, in the operator
// namespace) whose spec overrides the controller's environment variables field by field, and whose status shows what
// the controller sees: nodes by state, why waiting nodes do not start, the next window, whether updates are paused.
// Not part of brupop 1.4; purely additive.
//
// One TypeBox source gives the TypeScript types, the runtime validator and the CRD's openAPIV3Schema, as for the
// BottlerocketShadow. The spec's shape is src/core's `UpdatePolicySpec` (the controller checks that the two agree).
import Type, { type Static } from "typebox";
import { API_GROUP } from "./constants.ts";
import {
  BUILT_IN_GATE_NAMES,
  MAX_HOOKS_PER_PHASE,
  MAX_PLAN_ENTRIES,
  MAX_MIN_NODE_AGE,
  MAX_SOAK,
  UPDATE_POLICY_API_VERSION,
  UPDATE_POLICY_CRD_NAME,
  UPDATE_POLICY_KIND,
  UPDATE_POLICY_NAME,
  UPDATE_POLICY_PLURAL,
  UPDATE_POLICY_SHORT_NAMES,
  UPDATE_POLICY_SINGULAR,
  UPDATE_POLICY_VERSION,
} from "./update-policy-names.ts";
import { mapOf, stringEnum, toKubernetesSchema, type K8sSchema } from "./k8s-schema.ts";
import type { CustomResourceColumnDefinition, CustomResourceDefinition, ObjectMeta } from "./k8s-types.ts";
import { BRS_STATES, TIMED_STATES } from "./state-machine.ts";
import { compileValidator } from "./validation.ts";
import { SEMVER_PATTERN } from "./semver.ts";
import { ConditionSchema } from "./bottlerocket-shadow.ts";

const DURATION_DESCRIPTION = "A duration such as 12m, 1h30m or 90s.";

export const UpdateWindowSpecSchema = Type.Object(
  {
    schedule: Type.String({
      description: "When the window opens: standard 5-field cron (minute hour day-of-month month day-of-week).",
      minLength: 1,
    }),
    duration: Type.String({ description: `How long it stays open. ${DURATION_DESCRIPTION}`, minLength: 1 }),
    timeZone: Type.Optional(Type.String({ description: "IANA time zone of the schedule, e.g. Europe/Berlin (UTC)." })),
  },
  { description: "An update window: new updates start only while a window is open; updates in flight finish." },
);

const timeoutStates = [...TIMED_STATES, "Idle"] as const;
const StateTimeoutsSchema = Type.Object(
  Object.fromEntries(timeoutStates.map((state) => [state, Type.Optional(Type.String())])) as Record<
    (typeof timeoutStates)[number],
    Type.TOptional<Type.TString>
  >,
  {
    description:
      "How long a node may take to reach each state (Idle: for its agent to report Idle after a reset) before it " +
      `is reset and backed off. ${DURATION_DESCRIPTION}`,
  },
);

const IntOrString = Type.Unsafe<number | string>({
  "x-kubernetes-int-or-string": true,
  // Exactly this anyOf is what the API server accepts beside x-kubernetes-int-or-string (no other keywords in it).
  anyOf: [{ type: "integer" }, { type: "string" }],
  description: 'A number of nodes, "unlimited", or a percentage of the managed nodes such as "25%".',
});

/** A number of nodes ≥ 0 or a whole percentage up to 100%, checked by the API server (a 422 naming the field). */
function nodeCountOrPercent(description: string) {
  return Type.Unsafe<number | string>({
    "x-kubernetes-int-or-string": true,
    anyOf: [{ type: "integer" }, { type: "string" }],
    // Bounds the rule's cost (the API server refuses a rule whose estimated cost is unbounded): "100%" is 4 long.
    maxLength: 4,
    description,
    "x-kubernetes-validations": [
      {
        rule: "type(self) == int ? self >= 0 : self.matches('^[0-9]+$|^(100|[1-9]?[0-9])%$')",
        message: 'must be a number of nodes ≥ 0 or a percentage from 0% to 100% such as "25%"',
      },
    ],
  });
}

/** A label key (Kubernetes' qualified name): an optional DNS-subdomain prefix and "/", then a name of ≤ 63. */
const LABEL_KEY_PATTERN =
  "^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$";

export const TopologyBudgetSchema = Type.Object(
  {
    topologyKey: Type.String({
      description:
        "The node label whose values make the groups, e.g. topology.kubernetes.io/zone. Managed nodes without " +
        "the label form one group of their own, with the same limit.",
      minLength: 1,
      // A prefix of at most 253, "/", a name of at most 63.
      maxLength: 317,
      pattern: LABEL_KEY_PATTERN,
    }),
    maxConcurrentUpdates: nodeCountOrPercent(
      'Nodes of one group out of Idle at once: a number (0 starts none there) or a percentage such as "25%" of ' +
        "the group's managed nodes, rounded down and at least 1.",
    ),
  },
  { description: "A budget per value of a node label, on top of the fleet budget." },
);

/** parseDuration's grammar (src/core/duration.ts), so a bad duration is a 422 naming the field. */
const DURATION_PATTERN = "^([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?$";
const gateDuration = (description: string) =>
  Type.String({ description: `${description} ${DURATION_DESCRIPTION}`, minLength: 2, pattern: DURATION_PATTERN });

const LABEL_VALUE_PATTERN = "^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$";

export const LabelSelectorSchema = Type.Object(
  {
    matchLabels: Type.Optional(
      Type.Unsafe<Record<string, string>>({
        type: "object",
        additionalProperties: { type: "string", maxLength: 63, pattern: LABEL_VALUE_PATTERN },
        maxProperties: 20,
        // The API server checks keys only through a rule (no propertyNames in a CRD schema).
        "x-kubernetes-validations": [
          {
            rule: `self.all(k, k.matches('${LABEL_KEY_PATTERN.replaceAll("\\", "\\\\")}'))`,
            message: "every key must be a label key",
          },
        ],
      }),
    ),
    matchExpressions: Type.Optional(
      Type.Array(
        Type.Object({
          key: Type.String({ minLength: 1, maxLength: 317, pattern: LABEL_KEY_PATTERN }),
          operator: stringEnum(["In", "NotIn", "Exists", "DoesNotExist"]),
          values: Type.Optional(
            Type.Array(Type.String({ maxLength: 63, pattern: LABEL_VALUE_PATTERN }), { maxItems: 20 }),
          ),
        }),
        {
          maxItems: 20,
          "x-kubernetes-validations": [
            {
              rule: "self.all(e, e.operator in ['In', 'NotIn'] ? has(e.values) && size(e.values) > 0 : !has(e.values) || size(e.values) == 0)",
              message: "In and NotIn need values; Exists and DoesNotExist take none",
            },
          ],
        },
      ),
    ),
  },
  { description: "A label selector, as in a Deployment or a PodDisruptionBudget." },
);

const strings = (description: string) =>
  Type.Optional(Type.Array(Type.String({ maxLength: 4096 }), { maxItems: 64, description }));

/** The job gate (src/core/gate-job.ts): what runs; the controller writes the rest of the Job. */
export const JobGateSchema = Type.Object(
  {
    image: Type.String({
      description: "The check's container image, e.g. registry.example.com/node-check:1.2.",
      minLength: 1,
      maxLength: 1024,
      pattern: "^\\S+$",
    }),
    command: strings("The container's command (default: the image's entrypoint)."),
    args: strings("Its arguments (default: the image's)."),
    env: Type.Optional(
      Type.Array(
        Type.Object({
          name: Type.String({
            minLength: 1,
            maxLength: 256,
            pattern: "^[-._a-zA-Z][-._a-zA-Z0-9]*$",
            "x-kubernetes-validations": [
              { rule: "!self.startsWith('BRUPOP_')", message: "BRUPOP_* is set by the controller" },
            ],
          }),
          value: Type.String({ maxLength: 4096 }),
        }),
        {
          maxItems: 32,
          description: "Environment of the check, on top of BRUPOP_NODE_NAME and BRUPOP_VERSION (the new version).",
        },
      ),
    ),
    serviceAccountName: Type.Optional(
      Type.String({
        description:
          "The pod's ServiceAccount, in the operator's namespace (default: none, and no token mounted). Not one " +
          "of the operator's own (brupop-*).",
        minLength: 1,
        maxLength: 253,
        pattern: "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
        "x-kubernetes-validations": [
          {
            rule: "!self.startsWith('brupop-')",
            message: "the operator's own ServiceAccounts (brupop-*) are not for gates",
          },
        ],
      }),
    ),
    backoffLimit: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 3, description: "Pod retries before the Job fails (default 0)." }),
    ),
  },
  {
    description:
      "A Job run on the node that must complete: one pod pinned to the node (every taint tolerated), in the " +
      "operator's namespace, not past the gate's timeout. Failed fails the gate at once.",
  },
);

export const HealthGateSchema = Type.Object(
  {
    name: Type.String({
      description: "Names the gate in status, Events and `brupop explain` (a DNS label, unique).",
      minLength: 1,
      maxLength: 63,
      pattern: "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
    }),
    timeout: Type.Optional(gateDuration("How long the gate may take to pass (default: healthGates.timeout).")),
    podsReady: Type.Optional(
      Type.Object(
        {
          namespace: Type.Optional(
            Type.String({ description: "Only pods of this namespace (default: all).", minLength: 1, maxLength: 63 }),
          ),
          selector: LabelSelectorSchema,
          minReady: Type.Optional(
            Type.Integer({ minimum: 0, maximum: 1000, description: "At least so many must be Ready (default 1)." }),
          ),
        },
        { description: "Every selected pod on the node is Ready, and at least minReady of them." },
      ),
    ),
    nodeCondition: Type.Optional(
      Type.Object(
        {
          type: Type.String({ description: "A Node condition type, e.g. NetworkUnavailable.", minLength: 1 }),
          status: stringEnum(["True", "False", "Unknown"], { description: "The status it must have." }),
        },
        { description: "The Node has this condition with this status." },
      ),
    ),
    prometheus: Type.Optional(
      Type.Object(
        {
          query: Type.String({
            description:
              "PromQL; $node is replaced by the node's name, $version by the new version. It holds while its " +
              "result is non-empty and every value is non-zero.",
            minLength: 1,
            maxLength: 4096,
          }),
          for: Type.Optional(gateDuration("How long it must hold without a break (default 0s: once).")),
        },
        { description: "A Prometheus query that must hold, asked of healthGates.prometheusUrl." },
      ),
    ),
    job: Type.Optional(JobGateSchema),
  },
  {
    description: "A user health gate: exactly one of podsReady, nodeCondition, prometheus, job.",
    "x-kubernetes-validations": [
      {
        rule: "[has(self.podsReady), has(self.nodeCondition), has(self.prometheus), has(self.job)].filter(x, x).size() == 1",
        message: "set exactly one of podsReady, nodeCondition, prometheus, job",
      },
      {
        rule: `!(self.name in [${BUILT_IN_GATE_NAMES.map((n) => `'${n}'`).join(", ")}])`,
        message: `${BUILT_IN_GATE_NAMES.join(" and ")} are the built-in gates' names`,
      },
    ],
  },
);

export const HealthGatesSchema = Type.Object(
  {
    builtIn: Type.Optional(
      Type.Boolean({
        description:
          "The built-in gates: node-ready (the Node Ready and uncordoned) and daemonset-pods (its DaemonSet pods " +
          "Ready). Default true; false leaves only the listed gates (brupop's pass-through when there are none).",
      }),
    ),
    timeout: Type.Optional(
      gateDuration("How long the gates may take to pass after the reboot before the update fails (default 10m)."),
    ),
    prometheusUrl: Type.Optional(
      Type.String({
        description: "Base URL of the Prometheus the prometheus gates ask, e.g. http://prometheus.monitoring:9090.",
        maxLength: 2048,
        pattern: "^https?://[^\\s]+$",
      }),
    ),
    gates: Type.Optional(
      Type.Unsafe<Static<typeof HealthGateSchema>[]>({
        ...Type.Array(HealthGateSchema, { maxItems: 16, description: "Gates of your own, on top of the built-ins." }),
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["name"],
      }),
    ),
  },
  {
    description:
      "Checks after the reboot into a new version (MonitoringUpdate): a gate that does not pass in time fails the " +
      "update, and the node is rolled back to the version it ran before.",
    "x-kubernetes-validations": [
      {
        rule: "!has(self.gates) || !self.gates.exists(g, has(g.prometheus)) || has(self.prometheusUrl)",
        message: "prometheus gates need prometheusUrl",
      },
    ],
  },
);

// ---- Hooks (docs/design/hooks.md) ----

/** A bounded duration: the pattern keeps it in src/core/duration.ts's grammar, the rule in its range. */
function hookDuration(description: string, units: string, min: string, max: string) {
  return Type.String({
    description: `${description} ${DURATION_DESCRIPTION}`,
    minLength: 2,
    maxLength: 12,
    pattern: `^${units}$`,
    "x-kubernetes-validations": [
      {
        rule: `duration(self) >= duration('${min}') && duration(self) <= duration('${max}')`,
        message: `must be from ${min} to ${max}`,
      },
    ],
  });
}

export const HookSchema = Type.Object(
  {
    name: Type.String({
      description: "Names the hook in the request, the shadow, Events and metrics (a DNS label, unique per phase).",
      minLength: 1,
      maxLength: 63,
      pattern: "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
    }),
    url: Type.String({
      description: "Where the controller POSTs the call, e.g. http://db-operator.db:8080/brupop/pre-drain.",
      maxLength: 2048,
      pattern: "^https?://[^\\s/?#]+[^\\s]*$",
    }),
    mode: Type.Optional(
      stringEnum(["Blocking", "Advisory"], {
        description:
          "Blocking (default): the hook must pass or the update fails. Advisory: its failure is recorded and the " +
          "update goes on.",
      }),
    ),
    timeout: Type.Optional(
      hookDuration(
        "How long one call may take, connect to last byte (default 10s).",
        "([0-9]+m)?([0-9]+s)?",
        "1s",
        "60s",
      ),
    ),
    attempts: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 10,
        description: "Failed calls (an error, a timeout, a non-2xx answer) before the hook fails (default 3).",
      }),
    ),
    maxWait: Type.Optional(
      hookDuration(
        "How long answers of not yet (429 or 503 with Retry-After) may hold the node, from the first call (default 10m).",
        "([0-9]+h)?([0-9]+m)?([0-9]+s)?",
        "0s",
        "1h",
      ),
    ),
    caBundle: Type.Optional(
      Type.String({
        description: "Base64 of the PEM certificates that sign an https URL's server (default: the system's).",
        minLength: 4,
        maxLength: 65536,
        pattern: "^[A-Za-z0-9+/]+={0,2}$",
      }),
    ),
  },
  { description: "An HTTP webhook the controller calls (docs/design/hooks.md)." },
);

function hookList(description: string) {
  return Type.Unsafe<Static<typeof HookSchema>[]>({
    ...Type.Array(HookSchema, { maxItems: MAX_HOOKS_PER_PHASE, description }),
    "x-kubernetes-list-type": "map",
    "x-kubernetes-list-map-keys": ["name"],
  });
}

export const HooksSchema = Type.Object(
  {
    preDrain: Type.Optional(
      hookList("Called in order before the node is cordoned and drained; a blocking failure leaves it undrained."),
    ),
    postReboot: Type.Optional(
      hookList(
        "Called in order once the node's health gates passed on the new version; a blocking failure rolls it back.",
      ),
    ),
  },
  { description: "Webhooks around each node's update, called by the controller." },
);

// ---- end of hooks ----
// ---- Canaries, soak and the version pin (docs/design/canary.md) ----

/**
 * A duration that may have days, at most `max`: the pattern keeps it in src/core/duration.ts's grammar, the rule in
 * its range, so that a value the controller would refuse is a 422 naming the field. CEL's duration() knows no days
 * (hookDuration's rule uses it), so the rule adds up the parts itself; a part of 9 digits or more is over any bound
 * here (100000000s is over 3 years) and is refused before the sum could overflow.
 */
function longDuration(description: string, max: { seconds: number; text: string }) {
  const part = (unit: string, seconds: number) =>
    `(self.find('[0-9]+${unit}') == '' ? 0 : int(self.find('[0-9]+${unit}').replace('${unit}', '')) * ${seconds})`;
  const total = [part("d", 86_400), part("h", 3600), part("m", 60), part("s", 1)].join(" + ");
  return Type.String({
    description: `${description} ${DURATION_DESCRIPTION}`,
    minLength: 2,
    maxLength: 32,
    pattern: DURATION_PATTERN,
    "x-kubernetes-validations": [
      { rule: `!self.matches('[0-9]{9,}') && ${total} <= ${max.seconds}`, message: `must be at most ${max.text}` },
    ],
  });
}

export const CanarySchema = Type.Object(
  {
    selector: Type.Unsafe<Static<typeof LabelSelectorSchema>>({
      ...LabelSelectorSchema,
      description: "The canary nodes: the managed nodes this label selector picks.",
      "x-kubernetes-validations": [
        {
          rule: "(has(self.matchLabels) && size(self.matchLabels) > 0) || (has(self.matchExpressions) && size(self.matchExpressions) > 0)",
          message: "an empty selector picks every node; name the canaries with matchLabels or matchExpressions",
        },
      ],
    }),
    soak: longDuration(
      "How long every canary must have run a version, healthy, before the other nodes may install it (at most " +
        `${MAX_SOAK.text}).`,
      MAX_SOAK,
    ),
  },
  {
    description:
      "Canaries: the selected nodes update first; every other node waits to install a version until each canary " +
      "runs it, its update finished and its health gates passed, for the soak.",
  },
);

const MaxVersionSchema = Type.String({
  description:
    "No node starts an update to a version above this one; a node whose host offers a higher version stays where it " +
    "is (reason version-pinned) until its host offers one at or below it (settings.updates.version-lock).",
  maxLength: 128,
  pattern: SEMVER_PATTERN,
});

export const UpdatePolicySpecSchema = Type.Object(
  {
    paused: Type.Optional(Type.Boolean({ description: "No new updates start while true; updates in flight finish." })),
    maxConcurrentUpdates: Type.Optional(IntOrString),
    topologyBudgets: Type.Optional(
      Type.Unsafe<Static<typeof TopologyBudgetSchema>[]>({
        ...Type.Array(TopologyBudgetSchema, {
          maxItems: 10,
          description:
            "At most so many nodes per value of a node label (a zone) update at once, on top of " +
            "maxConcurrentUpdates; every entry applies, one entry per key.",
        }),
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["topologyKey"],
      }),
    ),
    schedulerCronExpression: Type.Optional(
      Type.String({ description: "brupop's SCHEDULER_CRON_EXPRESSION (6 or 7 fields, seconds first, UTC)." }),
    ),
    windows: Type.Optional(
      Type.Array(UpdateWindowSpecSchema, { description: "Update windows; when set they replace the cron schedule." }),
    ),
    stateTimeouts: Type.Optional(StateTimeoutsSchema),
    quarantineAfterFailures: Type.Optional(
      Type.Integer({
        minimum: 0,
        description: "Consecutive unacknowledged failures after which a node stops updating; 0 never.",
      }),
    ),
    allowDowngrade: Type.Optional(Type.Boolean({ description: "Whether a lower target version may be installed." })),
    maxFailedNodes: Type.Optional(
      nodeCountOrPercent(
        "Halt the rollout (no new update starts until brupop resume) when more nodes than this fail updating to " +
          'the version they are offered: a number, or a percentage such as "10%" of the managed nodes, rounded ' +
          "down (0 halts at the first failure). Unset: never halt.",
      ),
    ),
    annotateDoNotDisrupt: Type.Optional(
      Type.Boolean({
        description:
          "While a node updates, it carries karpenter.sh/do-not-disrupt and cluster-autoscaler.kubernetes.io/" +
          "scale-down-disabled (only those the operator added are removed after). Default true.",
      }),
    ),
    minNodeAge: Type.Optional(
      longDuration(
        `Nodes younger than this do not start an update (none by default; at most ${MAX_MIN_NODE_AGE.text}).`,
        MAX_MIN_NODE_AGE,
      ),
    ),
    healthGates: Type.Optional(HealthGatesSchema),
    dryRun: Type.Optional(
      Type.Boolean({
        description:
          "Publish the rollout plan (status.plan, PlanPublished Events) instead of starting nodes; updates in " +
          "flight finish. Setting it back to false starts the rollout as planned. Default false.",
      }),
    ),
    hooks: Type.Optional(HooksSchema),
    canary: Type.Optional(CanarySchema),
    maxVersion: Type.Optional(MaxVersionSchema),
  },
  { description: "Overrides the controller's environment variables field by field; unset fields keep them." },
);
export type UpdatePolicyResourceSpec = Static<typeof UpdatePolicySpecSchema>;

const count = (description: string) => Type.Integer({ minimum: 0, description });

export const BlockedNodeSchema = Type.Object({
  node: Type.String(),
  reason: Type.String({ description: "Stable code, e.g. budget-full, outside-window, backoff, paused." }),
  message: Type.String(),
});

export const TopologyStatusSchema = Type.Object({
  topologyKey: Type.String(),
  budget: Type.String({ description: 'As written, e.g. "1" or "25%".' }),
  groups: Type.Array(
    Type.Object({
      value: Type.Optional(Type.String({ description: "The label's value; absent for the nodes without the label." })),
      managedNodes: count("Managed nodes with this value."),
      limit: count("Nodes of this value that may update at once."),
      updating: count("Nodes of this value using budget now."),
    }),
    { description: "Each value of the label among the managed nodes (at most 100).", maxItems: 100 },
  ),
});

export const HaltStatusSchema = Type.Object(
  {
    maxFailedNodes: Type.String({ description: 'spec.maxFailedNodes as written, e.g. "2" or "10%".' }),
    limit: count("Failed nodes tolerated now; one more halts the rollout (a percentage's share of the managed nodes)."),
    failed: count("Nodes that failed in the current rollout (docs/operations.md: automatic halt)."),
    failedNodes: Type.Array(Type.String(), { description: "Their names (at most 100).", maxItems: 100 }),
    countingSince: Type.Optional(
      Type.String({
        description: "When the controller handled the last brupop resume: only failures after it count.",
        format: "date-time",
      }),
    ),
    resumeRequest: Type.Optional(
      Type.String({ description: "The resume request handled then (the policy's resume annotation)." }),
    ),
    lastFailures: Type.Array(
      Type.Object({
        node: Type.String(),
        version: Type.String({ description: "The version the node failed to install." }),
        at: Type.String({ description: "When it failed.", format: "date-time" }),
        reason: Type.Optional(
          Type.String({
            description: 'What failed, in a few words, e.g. "health gate daemonset-pods failed".',
            maxLength: 200,
          }),
        ),
      }),
      {
        description:
          "The controller's record of each node's last failure (kept here, so that a later success or a new " +
          "controller does not forget it; at most 1000).",
        maxItems: 1000,
      },
    ),
  },
  { description: "The automatic halt (spec.maxFailedNodes): failed nodes in the current rollout and the limit." },
);

// The plan (src/core/plan.ts), published in a dry run: bounded to MAX_PLAN_ENTRIES nodes, with the counts.

export const PlanStatusSchema = Type.Object(
  {
    computedAt: Type.String({
      description: "When the plan was computed; it is computed again only when it changes.",
      format: "date-time",
    }),
    updateDuration: Type.String({
      description: "What each node's update is assumed to take, and where that comes from.",
    }),
    waves: count("Waves: groups of nodes that start at the same time."),
    nodes: count("Nodes planned to start."),
    inFlight: count("Nodes updating now; they finish whatever the plan says."),
    notPlanned: count("Nodes that need something but are not planned to start (quarantined, opted out, stuck, ...)."),
    expectedEnd: Type.Optional(
      Type.String({ description: "When the last planned node is expected done (estimated).", format: "date-time" }),
    ),
    truncated: Type.Optional(Type.Boolean({ description: "The projection stopped at its horizon (a year)." })),
    entries: Type.Array(
      Type.Object({
        wave: Type.Integer({ minimum: 1 }),
        node: Type.String(),
        start: Type.String({ description: "Earliest start.", format: "date-time" }),
        estimated: Type.Boolean({ description: "Whether the start depends on the assumed update duration." }),
        from: Type.String(),
        to: Type.String(),
        zone: Type.Optional(Type.String({ description: "The node's zone (or the first topology budget's label)." })),
        why: Type.String({ description: "What it waits for until then." }),
      }),
      { description: `The first nodes in plan order (at most ${MAX_PLAN_ENTRIES}).`, maxItems: MAX_PLAN_ENTRIES },
    ),
  },
  { description: "The rollout plan (spec.dryRun): which nodes would update, in what order and from when." },
);

export const CanaryStatusSchema = Type.Object(
  {
    selector: Type.String({ description: "spec.canary.selector as kubectl text." }),
    soak: Type.String({ description: "spec.canary.soak, e.g. 30m." }),
    canaryNodes: count("Managed nodes the selector picks; 0: no canary phase."),
    nodes: Type.Array(Type.String(), { description: "Their names (at most 100).", maxItems: 100 }),
    message: Type.String(),
    rollouts: Type.Array(
      Type.Object({
        version: Type.String({ description: "A version other nodes wait to install." }),
        phase: stringEnum(["Pending", "Soaking", "Passed", "Failed"], {
          description:
            "Pending: canaries still updating to it; Soaking: all run it healthy; Passed: the soak ended, the " +
            "others may install it; Failed: a canary failed it (or is quarantined).",
        }),
        soakStartedAt: Type.Optional(Type.String({ format: "date-time" })),
        soakEndsAt: Type.Optional(Type.String({ format: "date-time" })),
        message: Type.String(),
      }),
      { description: "The canaries' verdict on each version other nodes are offered (at most 10).", maxItems: 10 },
    ),
  },
  { description: "The canary phase (spec.canary)." },
);

export const UpdatePolicyStatusSchema = Type.Object(
  {
    observedGeneration: Type.Optional(Type.Integer({ minimum: 0 })),
    paused: Type.Boolean({ description: "Whether new updates are paused for the whole fleet." }),
    managedNodes: count("Nodes labelled bottlerocket.aws/updater-interface-version=2.0.0."),
    updating: count("Nodes out of Idle (they count against the budget)."),
    budget: Type.String({ description: 'The concurrency limit in effect, e.g. "3", "unlimited", "25% (2)".' }),
    topology: Type.Optional(
      Type.Array(TopologyStatusSchema, {
        description: "Each topology budget (spec.topologyBudgets) by label value: nodes, limit, updating.",
        maxItems: 10,
      }),
    ),
    halt: Type.Optional(HaltStatusSchema),
    dryRun: Type.Optional(Type.Boolean({ description: "spec.dryRun in effect: nodes that would start are held." })),
    plan: Type.Optional(PlanStatusSchema),
    canary: Type.Optional(CanaryStatusSchema),
    maxVersion: Type.Optional(Type.String({ description: "spec.maxVersion in force: no node is started past it." })),
    nodesByState: Type.Object(
      Object.fromEntries(BRS_STATES.map((state) => [state, Type.Optional(Type.Integer({ minimum: 0 }))])) as Record<
        (typeof BRS_STATES)[number],
        Type.TOptional<Type.TInteger>
      >,
      { description: "Nodes by the state their agent reports." },
    ),
    blocked: Type.Optional(
      mapOf(Type.Integer({ minimum: 0 }), { description: "Nodes that want an update but wait, by reason." }),
    ),
    blockedSummary: Type.Optional(Type.String({ description: 'e.g. "3 budget-full, 1 backoff".' })),
    blockedNodes: Type.Optional(
      Type.Array(BlockedNodeSchema, { description: "The waiting nodes and why (at most 100).", maxItems: 100 }),
    ),
    window: Type.Object({
      open: Type.Boolean(),
      nextOpen: Type.Optional(
        Type.String({ description: "When starts are next allowed (when closed).", format: "date-time" }),
      ),
      openUntil: Type.Optional(
        Type.String({ description: "When the open window closes (explicit windows).", format: "date-time" }),
      ),
      message: Type.String(),
    }),
    sources: Type.Optional(
      mapOf(stringEnum(["default", "env", "policy"]), { description: "Where each setting came from." }),
    ),
    errors: Type.Optional(
      Type.Array(Type.String(), { description: "Why the policy is invalid; no update starts until it is fixed." }),
    ),
    warnings: Type.Optional(Type.Array(Type.String())),
    conditions: Type.Optional(
      Type.Unsafe<Static<typeof ConditionSchema>[]>({
        ...Type.Array(ConditionSchema),
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["type"],
      }),
    ),
  },
  { description: "What the controller sees, written by the controller." },
);
export type UpdatePolicyStatus = Static<typeof UpdatePolicyStatusSchema>;

const BodySchema = Type.Object(
  { spec: Type.Optional(UpdatePolicySpecSchema), status: Type.Optional(UpdatePolicyStatusSchema) },
  {
    title: UPDATE_POLICY_KIND,
    description: "The fleet update policy of the Bottlerocket update operator (one per operator namespace).",
    // A singleton: a second object with another name would be silently ignored, so refuse it.
    "x-kubernetes-validations": [
      {
        rule: `self.metadata.name == '${UPDATE_POLICY_NAME}'`,
        message: `there is one update policy per namespace and it must be named ${UPDATE_POLICY_NAME}`,
      },
    ],
  },
);

export interface BottlerocketUpdatePolicy {
  apiVersion: typeof UPDATE_POLICY_API_VERSION;
  kind: typeof UPDATE_POLICY_KIND;
  metadata: ObjectMeta;
  spec?: UpdatePolicyResourceSpec;
  status?: UpdatePolicyStatus;
}

/** The CRD `openAPIV3Schema`. */
export const updatePolicyOpenApiSchema = (): K8sSchema => toKubernetesSchema(BodySchema);

const specValidator = compileValidator(UpdatePolicySpecSchema);
const statusValidator = compileValidator(UpdatePolicyStatusSchema);
/** Validates a policy spec as the API server would (types, enums, minimums); the controller checks meaning. */
export const validateUpdatePolicySpec = specValidator.validate;
export const validateUpdatePolicyStatus = statusValidator.validate;

const COLUMNS: readonly CustomResourceColumnDefinition[] = [
  { name: "Paused", type: "boolean", jsonPath: ".status.paused" },
  { name: "Halted", type: "string", jsonPath: '.status.conditions[?(@.type=="Halted")].status' },
  { name: "Dry Run", type: "boolean", jsonPath: ".status.dryRun", priority: 1 },
  { name: "Updating", type: "integer", jsonPath: ".status.updating" },
  { name: "Budget", type: "string", jsonPath: ".status.budget" },
  { name: "Window Open", type: "boolean", jsonPath: ".status.window.open" },
  { name: "Next Window", type: "string", jsonPath: ".status.window.nextOpen" },
  { name: "Blocked", type: "string", jsonPath: ".status.blockedSummary" },
];

/** The BottlerocketUpdatePolicy CRD as plain JSON (send it as such; see crd.ts on client-node's typed APIs). */
export function updatePolicyCrd(options: { labels?: Readonly<Record<string, string>> } = {}): CustomResourceDefinition {
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: {
      name: UPDATE_POLICY_CRD_NAME,
      ...(options.labels === undefined ? {} : { labels: { ...options.labels } }),
    },
    spec: {
      group: API_GROUP,
      names: {
        kind: UPDATE_POLICY_KIND,
        plural: UPDATE_POLICY_PLURAL,
        singular: UPDATE_POLICY_SINGULAR,
        shortNames: [...UPDATE_POLICY_SHORT_NAMES],
      },
      scope: "Namespaced",
      conversion: { strategy: "None" },
      versions: [
        {
          name: UPDATE_POLICY_VERSION,
          served: true,
          storage: true,
          additionalPrinterColumns: COLUMNS.map((c) => ({ ...c })),
          schema: { openAPIV3Schema: updatePolicyOpenApiSchema() },
          subresources: { status: {} },
        },
      ],
    },
  };
}
