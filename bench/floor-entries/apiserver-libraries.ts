// A process that loads what the API server is built on and idles: TLS (as any Kubernetes client and HTTPS server),
// and every export of the libraries its bundle holds (@peculiar/x509, pino, prom-client, typebox, yaml, semver,
// lru-cache, close-with-grace; its HTTP server is Node's own, src/apiserver/http, no framework). The floor under the
// API server that a program of the same libraries cannot go below (bench/floor.ts).
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import * as closeWithGrace from "close-with-grace";
import * as lruCache from "lru-cache";
import * as pino from "pino";
import * as promClient from "prom-client";
import * as semver from "semver";
import * as typebox from "typebox";
import * as compile from "typebox/compile";
import * as yaml from "yaml";
import { idleWith } from "./idle.ts";

idleWith([x509, closeWithGrace, lruCache, pino, promClient, semver, typebox, compile, yaml]);
