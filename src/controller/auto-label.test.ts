import { describe, expect, it } from "vitest";
import { KubeClient } from "../kube/client.ts";
import { autoLabellerFromEnv, toLabelCandidate } from "./auto-label.ts";
import { ConfigError } from "./config.ts";

const log = { info: () => undefined, warn: () => undefined };
// Never used for a request: these cases start nothing.
const client = new KubeClient({ server: "https://127.0.0.1:1" });

describe("autoLabellerFromEnv", () => {
  it("starts nothing unless AUTO_LABEL_NODES=true", () => {
    expect(autoLabellerFromEnv({}, { client, log })).toBeNull();
    expect(autoLabellerFromEnv({ AUTO_LABEL_NODES: "false" }, { client, log })).toBeNull();
  });

  it("refuses a value that is neither true nor false, naming the variable", () => {
    expect(() => autoLabellerFromEnv({ AUTO_LABEL_NODES: "on" }, { client, log })).toThrow(ConfigError);
    expect(() => autoLabellerFromEnv({ AUTO_LABEL_NODES: "on" }, { client, log })).toThrow(
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
