// The `brupop` command. Each subcommand lives in its own module under src/cli/commands/ and is registered here.
// Command modules keep heavy imports (the Kubernetes client, the simulator) inside their actions, so that
// `brupop --help` and small commands start fast.
import { Command } from "@commander-js/extra-typings";
import { clusterCommand } from "./commands/cluster.ts";
import { demoCommand } from "./commands/demo.ts";
import { simulateHostCommand } from "./commands/simulate-host.ts";
import { apiclientCommand } from "./commands/apiclient.ts";
import { manifestsCommand } from "./commands/manifests.ts";

const program = new Command("brupop")
  .description("Bottlerocket update operator: operate, inspect and simulate")
  .showHelpAfterError()
  .enablePositionalOptions();

for (const command of [
  // registered subcommands (one line each)
  clusterCommand(),
  demoCommand(),
  simulateHostCommand(),
  apiclientCommand(),
  manifestsCommand(),
]) {
  program.addCommand(command);
}

await program.parseAsync();
