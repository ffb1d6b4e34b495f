// The agent's client of the brupop API server: brupop 1.4's routes and headers
// (docs/design/brupop-compatibility.md#routes-and-headers), so our agent works against either API server. Unlike
// brupop, every call has a deadline (the drain included), and the token and CA are read per request (brupop re-read
// both too; projected tokens rotate).
import { AGENT_ROUTES, HEADER_AUTH_TOKEN, HEADER_NODE_NAME, HEADER_NODE_UID } from "../api/constants.ts";
import { describeBlockers, readDrainResponse } from "../api/drain.ts";
import { setTimeout as sleep } from "node:timers/promises";
import type { ApiServerAccess } from "./config.ts";
import { httpRequest, readToken, TransportError, type HttpResponse } from "./http.ts";
import type { AgentStatus } from "./observed.ts";

/** A drain that ended without draining the node (timed out, failed, cancelled), with the server's explanation. */
export class DrainFailedError extends Error {
  override readonly name = "DrainFailedError";
}

/** The API server answered with a status that is not success (after retries, for retriable ones). */
export class ApiServerError extends Error {
  override readonly name = "ApiServerError";
  readonly status: number;
  readonly body: string;
  constructor(route: string, response: HttpResponse) {
    const body = response.body.trim().slice(0, 500);
    super(`${route}: ${response.status}${body === "" ? "" : ` ${body}`}`);
    this.status = response.status;
    this.body = response.body;
  }
}

export interface ApiServerClientOptions {
  access: ApiServerAccess;
  nodeName: string;
  /** The Node's uid; brupop sends it in BrupopNodeUid for the brs owner reference. */
  nodeUid: () => string | undefined;
  /** Deadline of ordinary calls, retries included. */
  requestTimeoutMs: number;
  /** Deadline of the whole cordon-and-drain, either route. */
  drainTimeoutMs: number;
  /** Pause between polls of an asynchronous drain. Default 2 s. */
  drainPollIntervalMs?: number;
  signal?: AbortSignal;
}

export class ApiServerClient {
  readonly #o: ApiServerClientOptions;
  /** Learnt on first use: false once the API server turned out not to offer the asynchronous drain (brupop's). */
  #asyncDrain = true;

  constructor(options: ApiServerClientOptions) {
    this.#o = options;
  }

  /** POST create: the API server creates `brs-<node>` owned by the Node. */
  async createShadow(): Promise<void> {
    const uid = this.#o.nodeUid();
    // brupop's body; the API server takes the selector from the headers.
    await this.#call(
      "POST",
      AGENT_ROUTES.shadow,
      JSON.stringify({ node_selector: { node_name: this.#o.nodeName, node_uid: uid } }),
    );
  }

  /** PUT status (merge patch of the status subresource on the API server's side). */
  async updateStatus(status: AgentStatus): Promise<void> {
    await this.#call("PUT", AGENT_ROUTES.shadow, JSON.stringify(status));
  }

  /**
   * Cordon, then drain (evictions honouring PodDisruptionBudgets), bounded by drainTimeoutMs. Prefers the
   * asynchronous drain (start, then poll: no request stays open for minutes, and a restarted API server replica
   * does not lose the agent's answer); falls back to brupop's synchronous route when the server does not have it.
   *
   * "Drained" counts only for the drain this agent started (its identity, from the start's answer): a poll that
   * reaches another replica may be answered with an older drain of the node that replica still remembers, and
   * rebooting on that answer would reboot a node whose pods were never evicted (docs/design/drain.md#identity).
   */
  async cordonAndDrain(): Promise<void> {
    const deadline = Date.now() + this.#o.drainTimeoutMs;
    /** The identity of the drain this agent started or joined; "" when the server gave none (older server). */
    let ours = "";
    if (this.#asyncDrain) {
      try {
        ours = readDrainResponse(await this.#call("POST", AGENT_ROUTES.drain, undefined, this.#remaining(deadline))).id;
      } catch (error) {
        if (!(error instanceof ApiServerError && (error.status === 404 || error.status === 405))) throw error;
        this.#asyncDrain = false;
      }
    }
    if (!this.#asyncDrain) {
      await this.#call("POST", AGENT_ROUTES.cordonAndDrain, undefined, Math.max(1, deadline - Date.now()));
      return;
    }
    const pause = this.#o.drainPollIntervalMs ?? 2_000;
    // The server names what holds the drain up; a timeout on our side must say it too (the operator's Event shows it).
    let blockedBy = "";
    const timedOut = () =>
      new DrainFailedError(
        `the drain did not finish within ${Math.round(this.#o.drainTimeoutMs / 1000)} s` +
          (blockedBy === "" ? "" : `; blocked by ${blockedBy}`),
      );
    // A call the drain's deadline cut short (or left no room to retry) is the drain's timeout, not a failed request.
    const drainCall = async (method: "GET" | "POST"): Promise<string> => {
      const budget = this.#remaining(deadline);
      try {
        return await this.#call(method, AGENT_ROUTES.drain, undefined, budget);
      } catch (error) {
        const cutShort = budget < this.#o.requestTimeoutMs && error instanceof TransportError;
        if (Date.now() >= deadline || cutShort) throw timedOut();
        throw error;
      }
    };
    /** Starts (or joins) a drain where the request lands, and makes it the one this agent follows. */
    const restart = async (): Promise<void> => {
      ours = readDrainResponse(await drainCall("POST")).id;
    };
    for (;;) {
      if (Date.now() + pause >= deadline) throw timedOut();
      await sleep(pause, undefined, this.#o.signal ? { signal: this.#o.signal } : undefined);
      // A late timer (a loaded machine) may have used up the rest: that is the drain's timeout, not a slow request.
      if (Date.now() >= deadline) throw timedOut();
      let body: string;
      try {
        body = await drainCall("GET");
      } catch (error) {
        // Rate limited even after the retries: the drain goes on server-side; ask again at the next poll.
        if (error instanceof ApiServerError && error.status === 429) continue;
        // Another replica answered and knows no drain of this node: start it there (starting is idempotent).
        if (!(error instanceof ApiServerError && error.status === 404)) throw error;
        await restart();
        continue;
      }
      const drain = readDrainResponse(body);
      // Another replica's memory of another drain (an earlier attempt's, or one it took over): not ours to trust.
      if (ours !== "" && drain.id !== ours) {
        await restart();
        continue;
      }
      blockedBy = describeBlockers(drain.blockers, 3);
      if (drain.phase === "drained") return;
      // A drain we still poll is cancelled by a replica shutting down, or because the node was taken over (our own
      // uncordon ends our polling first): have it run again; a closing replica refuses, so it lands on another one.
      if (drain.phase === "cancelled") {
        await restart();
        continue;
      }
      if (drain.phase !== "cordoning" && drain.phase !== "evicting") {
        throw new DrainFailedError(`drain ${drain.phase}: ${drain.message}`);
      }
    }
  }

  #remaining(deadline: number): number {
    return Math.max(1, Math.min(this.#o.requestTimeoutMs, deadline - Date.now()));
  }

  async uncordon(): Promise<void> {
    await this.#call("POST", AGENT_ROUTES.uncordon);
  }

  async excludeFromLb(): Promise<void> {
    await this.#call("POST", AGENT_ROUTES.excludeFromLb);
  }

  async removeExclusionFromLb(): Promise<void> {
    await this.#call("POST", AGENT_ROUTES.removeExclusionFromLb);
  }

  /**
   * One call with brupop's headers, retried on transport errors, 429 and 5xx with exponential backoff
   * (100 ms doubling to 10 s, brupop's), all within `deadlineMs`. Every route is idempotent on the server side.
   */
  async #call(method: string, route: string, body?: string, deadlineMs = this.#o.requestTimeoutMs): Promise<string> {
    const uid = this.#o.nodeUid();
    if (uid === undefined) throw new Error(`${route}: the Node's uid is not known yet`);
    const deadline = Date.now() + deadlineMs;
    let pause = 100;
    for (let attempt = 1; ; attempt++) {
      const remaining = deadline - Date.now();
      let failure: Error;
      try {
        const response = await httpRequest({
          baseUrl: this.#o.access.url,
          caFile: this.#o.access.caFile,
          method,
          path: route,
          headers: {
            [HEADER_NODE_NAME]: this.#o.nodeName,
            [HEADER_NODE_UID]: uid,
            [HEADER_AUTH_TOKEN]: await readToken(this.#o.access.tokenFile),
          },
          ...(body === undefined ? {} : { body }),
          timeoutMs: Math.max(1, remaining),
          ...(this.#o.signal === undefined ? {} : { signal: this.#o.signal }),
        });
        if (response.status >= 200 && response.status < 300) return response.body;
        failure = new ApiServerError(`${method} ${route}`, response);
        if (response.status !== 429 && response.status < 500) throw failure;
      } catch (error) {
        if (!(error instanceof TransportError) || error.timedOut) throw error;
        failure = error;
      }
      if (Date.now() + pause >= deadline || attempt >= 5) throw failure;
      await sleep(pause, undefined, this.#o.signal ? { signal: this.#o.signal } : undefined);
      pause = Math.min(pause * 2, 10_000);
    }
  }
}
