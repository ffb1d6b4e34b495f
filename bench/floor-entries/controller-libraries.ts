// A process that loads what the controller is built on and idles: TLS (as any Kubernetes client), and every export
// of the libraries its bundle holds (pino, prom-client, croner, yaml, typebox, semver). The floor under the
// controller that a program of the same libraries cannot go below (bench/floor.ts).
import * as croner from "croner";
import * as pino from "pino";
import * as promClient from "prom-client";
import * as semver from "semver";
import * as typebox from "typebox";
import * as compile from "typebox/compile";
import * as yaml from "yaml";
import { idleWith } from "./idle.ts";

idleWith([croner, pino, promClient, semver, typebox, compile, yaml]);
