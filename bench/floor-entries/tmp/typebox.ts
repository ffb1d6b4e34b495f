import * as m from "typebox"; import * as m2 from "typebox/compile";
import { idleWith } from "../idle.ts";
idleWith([m, m2]);
