import * as m from "prom-client";
import { idleWith } from "../idle.ts";
idleWith([m]);
