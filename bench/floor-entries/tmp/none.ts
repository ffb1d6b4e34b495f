
import { idleWith } from "../idle.ts";
idleWith([]);
