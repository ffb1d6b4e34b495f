// A process that loads what the controller is built on and idles: TLS (as any Kubernetes client), and every export
// of the libraries its bundle holds (pino, croner, yaml, semver; its Prometheus metrics are our own, src/metrics, and
// it validates nothing with TypeBox: kube-apiserver does). The floor under the controller that a program of the same
// libraries cannot go below (bench/floor.ts).
import * as croner from "croner";
import * as pino from "pino";
import * as semver from "semver";
import * as yaml from "yaml";
import { idleWith } from "./idle.ts";

idleWith([croner, pino, semver, yaml]);
