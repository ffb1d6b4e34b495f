// One call of a pre-drain or post-reboot hook (docs/design/hooks.md): a JSON POST to the hook's URL, bounded by the
// hook's timeout (connect to the last byte) and by the answer's size. What the answer means is src/core/hooks.ts's.
import type { CallResult, HookCall, HookRequest } from "../core/hooks.ts";

// Not ES imports: they would load Node's bundled undici (docs/design/footprint.md); fetch would too.
const http = process.getBuiltinModule("node:http");
const https = process.getBuiltinModule("node:https");

/** Bytes of an answer read: the status decides, the start of the body is only told in the Event. */
const MAX_ANSWER_BYTES = 4096;

export type HookCaller = (call: HookCall, namespace: string, signal: AbortSignal) => Promise<CallResult>;

/**
 * Makes the call. Resolves with the answer or the error (a timeout included); rejects only when `signal` (the
 * reconcile's: leadership lost) aborts, so that an abandoned call is not recorded.
 */
export const callHook: HookCaller = async (call, namespace, signal) => {
  const { hook } = call;
  const request: HookRequest = { ...call.request, shadow: { namespace, name: call.request.shadow.name } };
  const body = Buffer.from(JSON.stringify(request));
  const timeout = AbortSignal.timeout(hook.timeoutSeconds * 1000);
  try {
    return await post(
      new URL(hook.url),
      body,
      request.idempotencyKey,
      hook.caBundle,
      AbortSignal.any([signal, timeout]),
    );
  } catch (error) {
    if (signal.aborted) throw error;
    if (timeout.aborted) return { kind: "error", message: `no answer within ${hook.timeoutSeconds}s (timeout)` };
    const code = (error as { code?: unknown }).code;
    const message = error instanceof Error ? error.message : String(error);
    return {
      kind: "error",
      message: typeof code === "string" && !message.includes(code) ? `${code}: ${message}` : message,
    };
  }
};

function post(url: URL, body: Buffer, key: string, ca: string | null, signal: AbortSignal): Promise<CallResult> {
  const secure = url.protocol === "https:";
  return new Promise((resolve, reject) => {
    const options = {
      method: "POST",
      signal,
      headers: {
        "content-type": "application/json",
        "content-length": String(body.length),
        "idempotency-key": key,
        "user-agent": "brupop-controller",
      },
      ...(secure && ca !== null ? { ca } : {}),
    };
    const request = (secure ? https : http).request(url, options, (response) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const done = () => {
        const retryAfter = response.headers["retry-after"];
        resolve({
          kind: "answered",
          status: response.statusCode ?? 0,
          retryAfter: typeof retryAfter === "string" ? retryAfter : null,
          body: Buffer.concat(chunks).toString("utf8"),
        });
      };
      response.on("data", (chunk: Buffer) => {
        if (size >= MAX_ANSWER_BYTES) return;
        chunks.push(chunk.subarray(0, MAX_ANSWER_BYTES - size));
        size += chunk.length;
        // Enough to decide and to tell: the rest is not waited for.
        if (size >= MAX_ANSWER_BYTES) {
          done();
          response.destroy();
        }
      });
      response.on("end", done);
      response.on("error", reject);
    });
    request.on("error", reject);
    request.end(body);
  });
}
