// The Bottlerocket host update API, as the agent uses it. No Kubernetes imports here: the agent must stay lean.
export * from "./types.ts";
export * from "./errors.ts";
export { parseOsInfo, parseUpdateStatus } from "./parse.ts";
export { compareSemVer, isSemVer, parseSemVer, parseVersionLock, type SemVer } from "./semver.ts";
export {
  APICLIENT_WAIT_POLICIES,
  HostApiClient,
  isConnectFailure,
  type CommandOutcome,
  type CommandWaitPolicy,
  type HostApiClientOptions,
  type RawResponse,
  type RebootOutcome,
  type RefreshResult,
} from "./client.ts";
export {
  HOST_BOOT_ID_PATH,
  observeBoot,
  readBootId,
  rebootVerdict,
  type BootObservation,
  type RebootVerdict,
} from "./boot.ts";
export { apiclientRaw, type ApiclientRawRequest, type ApiclientRawResult } from "./apiclient-raw.ts";
