import * as m from "fastify"; import * as m2 from "@fastify/rate-limit";
import { idleWith } from "../idle.ts";
idleWith([m, m2]);
