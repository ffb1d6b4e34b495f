// The `brupop` command. Each subcommand lives in its own module under src/cli/commands/ and is registered here.
// Command modules keep heavy imports (the Kubernetes client, the simulator) inside their actions, so that
// `brupop --help` and small commands start fast.
import { Command } from "@commander-js/extra-typings";
import { clusterCommand } from "./commands/cluster.ts";
import { demoCommand } from "./commands/demo.ts";
import { chaosCommand } from "./commands/chaos.ts";
import { simulateHostCommand } from "./commands/simulate-host.ts";
import { apiclientCommand } from "./commands/apiclient.ts";
import { manifestsCommand } from "./commands/manifests.ts";
import { statusCommand } from "./commands/status.ts";
import { explainCommand } from "./commands/explain.ts";
import { pauseCommand, resumeCommand } from "./commands/pause.ts";
import { labelCommand } from "./commands/label.ts";
import { unquarantineCommand } from "./commands/unquarantine.ts";

const program = new Command("brupop")
  .description("Bottlerocket update operator: operate, inspect and simulate")
  .showHelpAfterError()
  .enablePositionalOptions();

for (const command of [
  // registered subcommands (one line each)
  clusterCommand(),
  demoCommand(),
  chaosCommand(),
  simulateHostCommand(),
  apiclientCommand(),
  manifestsCommand(),
  statusCommand(),
  explainCommand(),
  pauseCommand(),
  resumeCommand(),
  labelCommand(),
  unquarantineCommand(),
]) {
  program.addCommand(command);
}

await program.parseAsync();
