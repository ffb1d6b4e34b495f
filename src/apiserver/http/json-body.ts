// A JSON body, from its bytes: its bounds checked before anything is built (json-bounds.ts), then parsed. As
// fastify's parser did: a leading BOM is skipped, whitespace alone is no body (brupop's agents POST nothing but say
// application/json), and an own `__proto__` key anywhere is refused (a merge of it elsewhere would set a prototype).
import { HttpError, jsonBoundsError } from "../errors.ts";
import { checkJsonBounds, type JsonBounds } from "../json-bounds.ts";

const SUSPECT_PROTO =
  /"(?:_|\\u005[Ff])(?:_|\\u005[Ff])(?:p|\\u0070)(?:r|\\u0072)(?:o|\\u006[Ff])(?:t|\\u0074)(?:o|\\u006[Ff])(?:_|\\u005[Ff])(?:_|\\u005[Ff])"\s*:/;

function invalidJson(): HttpError {
  return new HttpError(400, "InvalidJson", "Body is not valid JSON but content-type is set to 'application/json'");
}

/** Breadth first, without recursion (the bounds keep it shallow anyway). */
function hasProtoKey(root: object): boolean {
  const pending: object[] = [root];
  for (let node = pending.pop(); node !== undefined; node = pending.pop()) {
    if (Object.hasOwn(node, "__proto__")) return true;
    for (const value of Object.values(node) as unknown[])
      if (value !== null && typeof value === "object") pending.push(value);
  }
  return false;
}

/** The parsed body, or undefined for one of whitespace only; an HttpError (400, 413) for anything else. */
export function parseJsonBody(bytes: Buffer, bounds: JsonBounds): unknown {
  let text = bytes.toString("utf8");
  if (!/\S/.test(text)) return undefined;
  const violation = checkJsonBounds(bytes, bounds);
  if (violation !== undefined) throw jsonBoundsError(violation, bounds);
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw invalidJson();
  }
  if (value !== null && typeof value === "object" && SUSPECT_PROTO.test(text) && hasProtoKey(value)) {
    throw invalidJson();
  }
  return value;
}
