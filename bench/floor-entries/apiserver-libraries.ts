// A process that loads what the API server is built on and idles: TLS (as any Kubernetes client and HTTPS server),
// and every export of the libraries its bundle holds (fastify and its rate limit, @peculiar/x509, pino, typebox,
// yaml, semver, lru-cache, close-with-grace; its Prometheus metrics are our own, src/metrics). The floor under the
// API server that a program of the same libraries cannot go below (bench/floor.ts).
import "reflect-metadata";
import * as rateLimit from "@fastify/rate-limit";
import * as x509 from "@peculiar/x509";
import * as closeWithGrace from "close-with-grace";
import * as fastify from "fastify";
import * as lruCache from "lru-cache";
import * as pino from "pino";
import * as semver from "semver";
import * as typebox from "typebox";
import * as compile from "typebox/compile";
import * as yaml from "yaml";
import { idleWith } from "./idle.ts";

idleWith([rateLimit, x509, closeWithGrace, fastify, lruCache, pino, semver, typebox, compile, yaml]);
