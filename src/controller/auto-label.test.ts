import { KubeConfig } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { autoLabellerFromEnv, toLabelCandidate } from "./auto-label.ts";
import { ConfigError } from "./config.ts";

const log = { info: () => undefined, warn: () => undefined };

describe("autoLabellerFromEnv", () => {
  it("starts nothing unless AUTO_LABEL_NODES=true", () => {
    expect(autoLabellerFromEnv({}, { kc: new KubeConfig(), log })).toBeNull();
    expect(autoLabellerFromEnv({ AUTO_LABEL_NODES: "false" }, { kc: new KubeConfig(), log })).toBeNull();
  });

  it("refuses a value that is neither true nor false, naming the variable", () => {
    expect(() => autoLabellerFromEnv({ AUTO_LABEL_NODES: "on" }, { kc: new KubeConfig(), log })).toThrow(ConfigError);
    expect(() => autoLabellerFromEnv({ AUTO_LABEL_NODES: "on" }, { kc: new KubeConfig(), log })).toThrow(
      /AUTO_LABEL_NODES: "on" is not true or false/,
    );
  });
});

describe("toLabelCandidate", () => {
  it("reads name, labels, annotations and the OS image", () => {
    expect(
      toLabelCandidate({
        metadata: { name: "a", labels: { x: "1" } },
        status: { nodeInfo: { osImage: "Bottlerocket OS 1.25.0" } as never },
      }),
    ).toEqual({ name: "a", labels: { x: "1" }, annotations: {}, osImage: "Bottlerocket OS 1.25.0" });
    expect(toLabelCandidate({ metadata: {} })).toBeUndefined();
  });
});
