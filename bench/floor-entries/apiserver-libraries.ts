// A process that loads what the API server is built on and idles: TLS (as any Kubernetes client and HTTPS server),
// and every export of the libraries it loads at rest (pino, typebox, yaml, semver, close-with-grace). Its
// HTTP server is Node's own (src/apiserver/http), its Prometheus metrics are our own (src/metrics), and
// @peculiar/x509, in its bundle, is loaded only to make a certificate (src/apiserver/tls/builtin.ts). The floor
// under the API server that a program of the same libraries cannot go below (bench/floor.ts).
import * as closeWithGrace from "close-with-grace";
import * as pino from "pino";
import * as semver from "semver";
import * as typebox from "typebox";
import * as yaml from "yaml";
import { idleWith } from "./idle.ts";

idleWith([closeWithGrace, pino, semver, typebox, yaml]);
