// The BottlerocketShadow resource: one TypeBox source per version for the TypeScript types, runtime validation and
// the CRD's openAPIV3Schema. Field names, enums, patterns and `required` lists are brupop 1.4's (golden file
// deploy/tests/golden/custom-resource-definition.yaml), so objects written by either implementation validate in
// both.
//
// Additions beyond brupop, all optional so brupop-written objects stay valid and brupop (which ignores unknown
// fields) keeps reading ours:
// - status.failure_reason: why the last action failed, readable with kubectl (brupop kept it in agent logs only);
// - status.conditions: standard Kubernetes Conditions (a list keyed by `type`), for `kubectl wait` and dashboards.
import Type, { type Static } from "typebox";
import { API_VERSION_V1, API_VERSION_V2, KIND } from "./constants.ts";
import { nullable, stringEnum, toKubernetesSchema, uint32, type K8sSchema } from "./k8s-schema.ts";
import type { ObjectMeta } from "./k8s-types.ts";
import { BRS_STATES, BRS_STATES_V1 } from "./state-machine.ts";
import { compileValidator, type ValidatorOptions } from "./validation.ts";
import { SEMVER_PATTERN } from "./semver.ts";
import { TIMESTAMP_PATTERN } from "./timestamps.ts";

export { SEMVER_PATTERN };

/** Readable names for the shadow's patterns and formats in validation messages (the API server's too). */
export const SHADOW_VALIDATOR_OPTIONS: ValidatorOptions = {
  patternNames: {
    [SEMVER_PATTERN]: "a semantic version such as 1.20.3",
    [TIMESTAMP_PATTERN]: "an RFC 3339 timestamp",
  },
  formatNames: { "date-time": "an RFC 3339 timestamp of a real date" },
};

const semver = (description?: string) =>
  Type.String(description === undefined ? { pattern: SEMVER_PATTERN } : { description, pattern: SEMVER_PATTERN });

/** An RFC 3339 timestamp, checked alike by kube-apiserver and by our validator (see TIMESTAMP_PATTERN). */
const timestamp = (description?: string) =>
  Type.String({
    ...(description === undefined ? {} : { description }),
    format: "date-time",
    pattern: TIMESTAMP_PATTERN,
  });

const SPEC_DESCRIPTION =
  "The `BottlerocketShadowSpec` can be used to drive a node through the update state machine. A node linearly " +
  "drives towards the desired state. The brupop controller updates the spec to specify a node's desired state, and " +
  "the host agent drives state changes forward and updates the `BottlerocketShadowStatus`.";
const STATUS_DESCRIPTION =
  "`BottlerocketShadowStatus` surfaces the current state of a bottlerocket node. The status is updated by the host " +
  "agent, while the spec is updated by the brupop controller.";
const ROOT_DESCRIPTION = "The update state of one Bottlerocket node, named brs-<node name> and owned by that Node.";

// ---- Condition (the shape of metav1.Condition, with the same limits) ----

export const ConditionSchema = Type.Object(
  {
    type: Type.String({
      description: "Type of condition in CamelCase or in foo.example.com/CamelCase.",
      maxLength: 316,
      pattern:
        "^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$",
    }),
    status: stringEnum(["True", "False", "Unknown"], { description: "Status of the condition." }),
    observedGeneration: Type.Optional(
      Type.Integer({
        description: "The .metadata.generation that the condition was set based upon.",
        format: "int64",
        minimum: 0,
      }),
    ),
    lastTransitionTime: timestamp("Last time the condition transitioned from one status to another."),
    reason: Type.String({
      description: "Programmatic identifier, in CamelCase, for the reason of the last transition.",
      minLength: 1,
      maxLength: 1024,
      pattern: "^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
    }),
    message: Type.String({ description: "Human-readable details about the transition.", maxLength: 32768 }),
  },
  { description: "One aspect of the node's update state (Kubernetes metav1.Condition)." },
);
export type Condition = Static<typeof ConditionSchema>;

// ---- v2 (storage) ----

export const BrsStateSchema = stringEnum(BRS_STATES, {
  description: "BottlerocketShadowState represents a node's state in the update state machine.",
});

export const BottlerocketShadowSpecSchema = Type.Object(
  {
    state: stringEnum(BRS_STATES, { description: "Records the desired state of the `BottlerocketShadow`" }),
    state_transition_timestamp: Type.Optional(
      nullable(timestamp("The time at which the most recent state was set as the desired state.")),
    ),
    version: Type.Optional(nullable(semver("The desired update version, if any."))),
  },
  { description: SPEC_DESCRIPTION },
);
export type BottlerocketShadowSpec = Static<typeof BottlerocketShadowSpecSchema>;

export const BottlerocketShadowStatusSchema = Type.Object(
  {
    current_version: semver(),
    target_version: semver(),
    current_state: BrsStateSchema,
    crash_count: uint32(),
    state_transition_failure_timestamp: Type.Optional(nullable(timestamp())),
    failure_reason: Type.Optional(
      nullable(Type.String({ description: "Why the last action failed (not in brupop 1.4)." })),
    ),
    conditions: Type.Optional(
      Type.Unsafe<Condition[]>({
        ...Type.Array(ConditionSchema, { description: "Standard Kubernetes conditions (not in brupop 1.4)." }),
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["type"],
      }),
    ),
  },
  { description: STATUS_DESCRIPTION },
);
export type BottlerocketShadowStatus = Static<typeof BottlerocketShadowStatusSchema>;

/** The CRD body of v2: only spec and status; the API server supplies apiVersion, kind and metadata. */
const BodyV2Schema = Type.Object(
  { spec: BottlerocketShadowSpecSchema, status: Type.Optional(nullable(BottlerocketShadowStatusSchema)) },
  { title: KIND, description: ROOT_DESCRIPTION },
);

// Metadata is the API server's to validate; we only need it to be an object, and we pass it through unchanged.
const MetadataSchema = Type.Unsafe<ObjectMeta>({ type: "object" });

export const BottlerocketShadowSchema = Type.Object(
  {
    apiVersion: stringEnum([API_VERSION_V2]),
    kind: stringEnum([KIND]),
    metadata: MetadataSchema,
    ...BodyV2Schema.properties,
  },
  { title: KIND },
);
/** A v2 BottlerocketShadow as stored and as our components read and write it. */
export type BottlerocketShadow = Static<typeof BottlerocketShadowSchema>;

// ---- v1 (served, legacy): brupop's first schema, kept so old clients can still read and write ----

export const BrsStateV1Schema = stringEnum(BRS_STATES_V1, {
  description: "BottlerocketShadowState represents a node's state in the update state machine.",
});

export const BottlerocketShadowSpecV1Schema = Type.Object(
  {
    state: stringEnum(BRS_STATES_V1, { description: "Records the desired state of the `BottlerocketShadow`" }),
    state_transition_timestamp: Type.Optional(
      nullable(timestamp("The time at which the most recent state was set as the desired state.")),
    ),
    version: Type.Optional(nullable(semver("The desired update version, if any."))),
  },
  { description: SPEC_DESCRIPTION },
);
export type BottlerocketShadowSpecV1 = Static<typeof BottlerocketShadowSpecV1Schema>;

export const BottlerocketShadowStatusV1Schema = Type.Object(
  { current_version: semver(), target_version: semver(), current_state: BrsStateV1Schema },
  { description: STATUS_DESCRIPTION },
);
export type BottlerocketShadowStatusV1 = Static<typeof BottlerocketShadowStatusV1Schema>;

const BodyV1Schema = Type.Object(
  { spec: BottlerocketShadowSpecV1Schema, status: Type.Optional(nullable(BottlerocketShadowStatusV1Schema)) },
  { title: KIND, description: ROOT_DESCRIPTION },
);

export const BottlerocketShadowV1Schema = Type.Object(
  {
    apiVersion: stringEnum([API_VERSION_V1]),
    kind: stringEnum([KIND]),
    metadata: MetadataSchema,
    ...BodyV1Schema.properties,
  },
  { title: KIND },
);
export type BottlerocketShadowV1 = Static<typeof BottlerocketShadowV1Schema>;

// ---- Artifacts ----

/** The CRD `openAPIV3Schema` of v2. */
export const openApiSchemaV2 = (): K8sSchema => toKubernetesSchema(BodyV2Schema);
/** The CRD `openAPIV3Schema` of v1. */
export const openApiSchemaV1 = (): K8sSchema => toKubernetesSchema(BodyV1Schema);

const shadowV2 = compileValidator(BottlerocketShadowSchema, SHADOW_VALIDATOR_OPTIONS);
const shadowV1 = compileValidator(BottlerocketShadowV1Schema, SHADOW_VALIDATOR_OPTIONS);
const statusV2 = compileValidator(BottlerocketShadowStatusSchema, SHADOW_VALIDATOR_OPTIONS);
const specV2 = compileValidator(BottlerocketShadowSpecSchema, SHADOW_VALIDATOR_OPTIONS);

/** Validates a whole v2 object (apiVersion, kind, metadata, spec, status). */
export const validateShadow = shadowV2.validate;
/** Validates a whole v1 object. */
export const validateShadowV1 = shadowV1.validate;
/** Validates a v2 status, e.g. the body an agent PUTs to the API server. */
export const validateShadowStatus = statusV2.validate;
/** Validates a v2 spec. */
export const validateShadowSpec = specV2.validate;
/** Type guard for a whole v2 object. */
export const isShadow = shadowV2.check;
