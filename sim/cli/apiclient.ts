// `brupop apiclient raw`: a stand-in for Bottlerocket's `apiclient raw`, so tooling written for it (brupop 1.4's
// agent parses `Status NNN` out of its stderr) can drive a simulated host. Same flags, output and exit codes.
import { Command, Option } from "@commander-js/extra-typings";
import { DEFAULT_HOST_API_SOCKET } from "../../src/host/types.ts";

export function apiclientCommand() {
  const apiclient = new Command("apiclient")
    .description("talk to a Bottlerocket (or simulated) host API like Bottlerocket's apiclient")
    .option("-s, --socket-path <path>", "server socket path", DEFAULT_HOST_API_SOCKET)
    .enablePositionalOptions();

  const raw = new Command("raw")
    .description(
      "make an HTTP request and print the response body on stdout; on error print apiclient's message and exit 1",
    )
    .requiredOption("-u, --uri <uri>", "URI to request from the server, e.g. /updates/status")
    .option("-m, --method <method>", "HTTP method", "GET")
    .addOption(new Option("-X <method>", "same as --method").hideHelp())
    .option("-d, --data <data>", "data to include in the request body")
    .option("-s, --socket-path <path>", "server socket path (overrides the apiclient option)")
    .addOption(new Option("--socket <path>", "same as --socket-path").hideHelp())
    .option("-v, --verbose", "print the HTTP status to stderr")
    .option("--timeout-ms <ms>", "give up after this long (apiclient has no limit)", (v) => Number(v), 600_000)
    .action(async (opts) => {
      const { HostApiClient } = await import("../../src/host/client.ts");
      const { apiclientRaw } = await import("../host/apiclient-raw.ts");
      const socketPath = opts.socketPath ?? opts.socket ?? apiclient.opts().socketPath;
      const client = new HostApiClient({ socketPath, requestTimeoutMs: opts.timeoutMs > 0 ? opts.timeoutMs : 600_000 });
      try {
        const result = await apiclientRaw(client, {
          uri: opts.uri,
          method: opts.X ?? opts.method,
          ...(opts.data === undefined ? {} : { data: opts.data }),
          verbose: opts.verbose === true,
        });
        process.stdout.write(result.stdout);
        process.stderr.write(result.stderr);
        process.exitCode = result.exitCode;
      } finally {
        await client.close();
      }
    });

  return apiclient.addCommand(raw, { isDefault: true });
}
