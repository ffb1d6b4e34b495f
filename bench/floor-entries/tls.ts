// A process that loads what talking to kube-apiserver takes (node:https, a TLS context) and idles: the floor under a
// component with no client library (bench/floor.ts).
import { idleWith } from "./idle.ts";

idleWith([]);
