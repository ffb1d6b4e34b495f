import "reflect-metadata"; import * as m from "@peculiar/x509";
import { idleWith } from "../idle.ts";
idleWith([m]);
