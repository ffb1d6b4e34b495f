// Good agent requests sent one after another from a worker thread, so that their latency is the server's and not
// that of the test's own event loop, busy building and sending the attack beside them. The test names the phase;
// each answer is recorded under the phase in force when its request was sent; between phases none are sent.
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";
import { httpsCall, type HttpsCall } from "./apiserver-process.ts";

export interface PhaseRecord {
  latenciesMs: number[];
  statuses: number[];
}

interface Setup {
  url: string;
  caPem: string;
  request: HttpsCall;
}

type Command = { phase: string } | { stop: true };
type Report = { phase: string; count: number } | { records: Record<string, PhaseRecord> };

/** The traffic, seen from the test. */
export class GoodTraffic {
  readonly #worker: Worker;
  readonly #counts = new Map<string, number>();
  readonly #waiters: { phase: string; count: number; resolve: () => void }[] = [];
  readonly #records: Promise<Record<string, PhaseRecord>>;

  constructor(setup: Setup) {
    this.#worker = new Worker(new URL(import.meta.url), { workerData: setup });
    this.#records = new Promise((resolve, reject) => {
      this.#worker.on("message", (report: Report) => {
        if ("records" in report) {
          resolve(report.records);
          return;
        }
        this.#counts.set(report.phase, report.count);
        for (const waiter of this.#waiters.filter((w) => w.phase === report.phase && w.count <= report.count)) {
          this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
          waiter.resolve();
        }
      });
      this.#worker.once("error", reject);
    });
  }

  /** Requests sent from now on are recorded under `phase`. */
  phase(phase: string): void {
    this.#worker.postMessage({ phase } satisfies Command);
  }

  /** No requests until the next phase. */
  pause(): void {
    this.#worker.postMessage({ phase: "" } satisfies Command);
  }

  /** Resolves once `count` answers are recorded under `phase`. */
  until(phase: string, count: number): Promise<void> {
    if ((this.#counts.get(phase) ?? 0) >= count) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ phase, count, resolve }));
  }

  /** Stops after the request in flight and returns what each phase saw. */
  async stop(): Promise<Record<string, PhaseRecord>> {
    this.#worker.postMessage({ stop: true } satisfies Command);
    const records = await this.#records;
    await this.#worker.terminate();
    return records;
  }
}

async function run(setup: Setup): Promise<void> {
  const records: Record<string, PhaseRecord> = {};
  // Set by the test's messages, read by the loop.
  const state = { phase: "", stopping: false, resume: (): void => undefined };
  parentPort?.on("message", (command: Command) => {
    if ("stop" in command) state.stopping = true;
    else state.phase = command.phase;
    state.resume();
  });
  while (!state.stopping) {
    if (state.phase === "") {
      await new Promise<void>((resolve) => (state.resume = resolve));
      continue;
    }
    const sentIn = state.phase;
    const record = (records[sentIn] ??= { latenciesMs: [], statuses: [] });
    const began = performance.now();
    const answer = await httpsCall(setup.url, setup.caPem, setup.request).catch(() => undefined);
    record.latenciesMs.push(performance.now() - began);
    record.statuses.push(answer?.status ?? 0);
    parentPort?.postMessage({ phase: sentIn, count: record.statuses.length } satisfies Report);
  }
  parentPort?.postMessage({ records } satisfies Report);
}

if (!isMainThread && parentPort !== null) await run(workerData as Setup);
