import * as m from "fastify";
import { idleWith } from "../idle.ts";
idleWith([m]);
