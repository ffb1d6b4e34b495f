// The development command (`npm run demo|chaos|cluster|simulate-host|apiclient`): the simulated cluster and the
// simulated Bottlerocket host. Never part of the operator's image or of the `brupop` CLI, which operate real clusters.
import { Command } from "@commander-js/extra-typings";
import { apiclientCommand } from "./apiclient.ts";
import { chaosCommand } from "./chaos.ts";
import { clusterCommand } from "./cluster.ts";
import { demoCommand } from "./demo.ts";
import { simulateHostCommand } from "./simulate-host.ts";

const program = new Command("brupop-dev")
  .description("Bottlerocket update operator, development tools: a simulated cluster, the demo, chaos runs")
  .showHelpAfterError()
  .enablePositionalOptions();

for (const command of [demoCommand(), clusterCommand(), chaosCommand(), simulateHostCommand(), apiclientCommand()]) {
  program.addCommand(command);
}

await program.parseAsync();
