// The `brupop` command. Each subcommand lives in its own module under src/cli/commands/ and is registered here.
// Command modules keep heavy imports (the Kubernetes client) inside their actions, so that
// `brupop --help` and small commands start fast.
import { Command } from "@commander-js/extra-typings";
import { manifestsCommand } from "./commands/manifests.ts";
import { statusCommand } from "./commands/status.ts";
import { explainCommand } from "./commands/explain.ts";
import { planCommand } from "./commands/plan.ts";
import { pauseCommand, resumeCommand } from "./commands/pause.ts";
import { labelCommand } from "./commands/label.ts";
import { unquarantineCommand } from "./commands/unquarantine.ts";
import { cliVersion } from "./version.ts";

const program = new Command("brupop")
  .description("Bottlerocket update operator: operate and inspect the updates of a cluster's Bottlerocket nodes")
  .version(cliVersion())
  .showHelpAfterError()
  .enablePositionalOptions();

for (const command of [
  manifestsCommand(),
  statusCommand(),
  explainCommand(),
  planCommand(),
  pauseCommand(),
  resumeCommand(),
  labelCommand(),
  unquarantineCommand(),
]) {
  program.addCommand(command);
}

// No top-level await: the single-file executable (Node's SEA) runs the CLI as a CommonJS script.
program.parseAsync().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
