import * as m from "pino";
import { idleWith } from "../idle.ts";
idleWith([m]);
