// `brupop manifests`: prints (or writes) the one-file install manifest for this cluster's settings: image, registry
// (a mirror, or ECR in the cluster's region), pull secrets, TLS mode, namespace, budget, schedule. With no options it
// prints the committed bottlerocket-update-operator.yaml.
import { Command, InvalidArgumentError, Option } from "@commander-js/extra-typings";

const collect = (value: string, previous: string[]) => [...previous, value];
const wholeSeconds = (value: string) => {
  if (!/^[0-9]+$/.test(value)) throw new InvalidArgumentError("must be a whole number of seconds");
  return Number(value);
};

export function manifestsCommand() {
  return new Command("manifests")
    .description("print the install manifest (Namespace, CRD, RBAC, workloads) for your settings")
    .option("--image <reference>", "full image reference (overrides --registry, --region, --tag)")
    .option("--registry <registry>", "registry (and path) to pull the image from, e.g. a mirror")
    .option("--region <region>", "pull from the ECR registry of this AWS region (needs --account)")
    .option("--account <id>", "AWS account of the regional ECR registry")
    .option("--tag <tag>", "image tag")
    .option("--pull-secret <name>", "image pull Secret in the operator namespace (repeatable)", collect, [] as string[])
    .addOption(
      new Option("--tls <mode>", "how the API server gets its certificate").choices([
        "builtin",
        "cert-manager",
      ] as const),
    )
    .option("--namespace <name>", "operator namespace")
    .option("--max-concurrent-updates <n>", 'nodes updating at once: a positive integer or "unlimited"')
    .option("--scheduler-cron-expression <cron>", "when updates may start (brupop's 6/7-field cron, UTC)")
    .option("--exclude-from-lb-wait <seconds>", "wait after excluding a node from load balancers", wholeSeconds)
    .option("--cluster-domain <domain>", "the cluster's DNS domain")
    .option("--service-monitor", "add prometheus-operator ServiceMonitors")
    .option("-o, --output <file>", "write to this file instead of standard output")
    .action(async (opts) => {
      const { operatorManifest } = await import("../../deploy/manifest.ts");
      if ((opts.region === undefined) !== (opts.account === undefined)) {
        throw new InvalidArgumentError("--region and --account go together");
      }
      const image = opts.image ?? {
        ...(opts.registry === undefined ? {} : { registry: opts.registry }),
        ...(opts.region === undefined || opts.account === undefined
          ? {}
          : { regional: { region: opts.region, accountId: opts.account } }),
        ...(opts.tag === undefined ? {} : { tag: opts.tag }),
      };
      let text: string;
      try {
        text = operatorManifest({
          image,
          imagePullSecrets: opts.pullSecret,
          tls: opts.tls,
          namespace: opts.namespace,
          maxConcurrentUpdates: opts.maxConcurrentUpdates,
          schedulerCronExpression: opts.schedulerCronExpression,
          excludeFromLbWaitTimeInSec: opts.excludeFromLbWait,
          clusterDomain: opts.clusterDomain,
          serviceMonitor: opts.serviceMonitor,
        });
      } catch (err) {
        if (err instanceof RangeError) {
          console.error(`brupop manifests: ${err.message}`);
          process.exitCode = 2;
          return;
        }
        throw err;
      }
      if (opts.output === undefined) process.stdout.write(text);
      else {
        const { writeFile } = await import("node:fs/promises");
        await writeFile(opts.output, text);
        console.error(`wrote ${opts.output}`);
      }
    });
}
