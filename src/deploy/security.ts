// Security contexts. Every container: no privilege escalation, no capabilities, read-only root filesystem,
// RuntimeDefault seccomp. Non-root everywhere except the agent (see agentSecurityContext).
import type { V1Capabilities, V1PodSecurityContext, V1SecurityContext } from "@kubernetes/client-node";

/** The distroless `nonroot` user and group. */
export const NON_ROOT_UID = 65532;

const DROP_ALL: V1Capabilities = { drop: ["ALL"] };

export function nonRootPodSecurityContext(): V1PodSecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: NON_ROOT_UID,
    runAsGroup: NON_ROOT_UID,
    fsGroup: NON_ROOT_UID,
    seccompProfile: { type: "RuntimeDefault" },
  };
}

export function restrictedContainerSecurityContext(): V1SecurityContext {
  return {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: DROP_ALL,
    runAsNonRoot: true,
    runAsUser: NON_ROOT_UID,
    runAsGroup: NON_ROOT_UID,
  };
}

/**
 * The agent talks to Bottlerocket's API socket, `/run/api.sock`, owned by root with mode 0660. The SELinux type
 * `super_t` lets the container reach it (brupop's setting); DAC needs uid 0, as the owner. Root here holds no
 * capabilities (CAP_DAC_OVERRIDE and the rest are dropped) and cannot gain any, so it can open root-owned files but
 * nothing a non-root process with those files' ownership could not.
 */
export function agentSecurityContext(): V1SecurityContext {
  return {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: DROP_ALL,
    privileged: false,
    runAsNonRoot: false,
    runAsUser: 0,
    runAsGroup: 0,
    seLinuxOptions: { user: "system_u", role: "system_r", type: "super_t", level: "s0" },
    seccompProfile: { type: "RuntimeDefault" },
  };
}
