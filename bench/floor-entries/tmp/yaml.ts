import * as m from "yaml";
import { idleWith } from "../idle.ts";
idleWith([m]);
