// Runtime validation from the same TypeBox schemas that produce the CRD, with messages a Kubernetes user can act
// on: `spec.state: must be one of Idle, … (got "Foo")` rather than a JSON pointer and a bare keyword.
import type { Static, TSchema } from "typebox";
import { toValidationSchema } from "./k8s-schema.ts";
import { schemaChecker, type SchemaError } from "./schema-check.ts";

export interface ValidationIssue {
  /** Where the problem is, in kubectl's notation: `status.conditions[0].type`; `(root)` for the value itself. */
  path: string;
  message: string;
}

export type ValidationResult<T> =
  { ok: true; value: T } | { ok: false; issues: ValidationIssue[]; /** All issues in one line. */ message: string };

// Function-valued properties rather than methods, so they can be passed around unbound.
export interface SchemaValidator<T> {
  check: (value: unknown) => value is T;
  validate: (value: unknown) => ValidationResult<T>;
}

export interface ValidatorOptions {
  /** Readable names for patterns whose regular expression would be noise in a message, keyed by the pattern. */
  patternNames?: Readonly<Record<string, string>>;
  /** Readable names for formats, keyed by the format (`date-time`). */
  formatNames?: Readonly<Record<string, string>>;
}

function decodePointerSegment(segment: string): string {
  return segment.replaceAll("~1", "/").replaceAll("~0", "~");
}

/** `/status/conditions/0/type` → `status.conditions[0].type`. */
export function pointerToPath(pointer: string): string {
  if (pointer === "" || pointer === "/") return "(root)";
  let path = "";
  for (const segment of pointer.split("/").slice(1).map(decodePointerSegment)) {
    if (/^\d+$/.test(segment)) path += `[${segment}]`;
    else path += path === "" ? segment : `.${segment}`;
  }
  return path;
}

function joinPath(parent: string, child: string): string {
  return parent === "(root)" ? child : `${parent}.${child}`;
}

function valueAt(root: unknown, pointer: string): unknown {
  let current = root;
  for (const segment of pointer.split("/").slice(1).map(decodePointerSegment)) {
    if (typeof current !== "object" || current === null) return undefined;
    current = (current as Record<string, unknown>)[segment];
  }
  return current;
}

const PREVIEW_LENGTH = 80;
const PREVIEW_ITEMS = 4;

/** A short preview of a value of any size or depth: a bounded walk of its first levels, never a full serialisation. */
function preview(value: unknown, depth: number): string {
  if (value === null || typeof value !== "object") {
    return typeof value === "string" ? JSON.stringify(value.slice(0, PREVIEW_LENGTH)) : String(value);
  }
  const array = Array.isArray(value);
  if (depth >= 2) return array ? "[...]" : "{...}";
  const items = array
    ? value.slice(0, PREVIEW_ITEMS).map((item: unknown) => preview(item, depth + 1))
    : Object.entries(value)
        .slice(0, PREVIEW_ITEMS)
        .map(([key, item]) => `${JSON.stringify(key.slice(0, PREVIEW_LENGTH))}:${preview(item, depth + 1)}`);
  const more = (array ? value.length : Object.keys(value).length) > PREVIEW_ITEMS ? ",..." : "";
  return array ? `[${items.join(",")}${more}]` : `{${items.join(",")}${more}}`;
}

function describeValue(value: unknown): string {
  if (value === undefined) return "nothing";
  const text = preview(value, 0);
  return text.length > PREVIEW_LENGTH ? `${text.slice(0, PREVIEW_LENGTH - 3)}...` : text;
}

function toIssues(error: SchemaError, root: unknown, options: ValidatorOptions): ValidationIssue[] {
  const path = pointerToPath(error.instancePath);
  const got = ` (got ${describeValue(valueAt(root, error.instancePath))})`;
  switch (error.keyword) {
    case "required": {
      const missing = error.params.requiredProperties;
      if (Array.isArray(missing)) {
        return missing.map((name) => ({ path: joinPath(path, String(name)), message: "is required" }));
      }
      return [{ path, message: error.message }];
    }
    case "enum": {
      const allowed = error.params.allowedValues;
      const list = Array.isArray(allowed) ? allowed.map((value) => String(value)).join(", ") : "";
      return [{ path, message: `must be one of ${list}${got}` }];
    }
    case "pattern": {
      const pattern = error.params.pattern;
      const name = typeof pattern === "string" ? options.patternNames?.[pattern] : undefined;
      return [{ path, message: (name === undefined ? error.message : `must be ${name}`) + got }];
    }
    case "format": {
      const format = error.params.format;
      const name = typeof format === "string" ? options.formatNames?.[format] : undefined;
      return [{ path, message: (name === undefined ? error.message : `must be ${name}`) + got }];
    }
    default:
      return [{ path, message: error.message + got }];
  }
}

/** One line for logs, API responses and exceptions: `spec.state: must be …; status.crash_count: is required`. */
export function formatIssues(issues: readonly ValidationIssue[]): string {
  return issues.map((issue) => `${issue.path}: ${issue.message}`).join("; ");
}

/**
 * Compiles a validator for `schema`, a schema in the Kubernetes dialect (see k8s-schema.ts). The static type
 * comes from the TypeBox schema, so `check` narrows to exactly the type the rest of the code uses.
 */
export function compileValidator<T extends TSchema>(
  schema: T,
  options: ValidatorOptions = {},
): SchemaValidator<Static<T>> {
  // Made at first use: a program that never validates (the controller: kube-apiserver validates its objects) does
  // not carry the schema's copy and its patterns.
  let checker: ReturnType<typeof schemaChecker> | undefined;
  const validator = () => (checker ??= schemaChecker(toValidationSchema(schema)));
  const check = (value: unknown): value is Static<T> => validator().check(value);
  return {
    check,
    validate: (value) => {
      if (check(value)) return { ok: true, value };
      const errors = validator().errors(value);
      // A value that misses its pattern misses its format too; the pattern's message says enough.
      const patterned = new Set(errors.filter((e) => e.keyword === "pattern").map((e) => e.instancePath));
      const issues = errors
        .filter((e) => e.keyword !== "format" || !patterned.has(e.instancePath))
        .flatMap((error) => toIssues(error, value, options));
      // Defensive: a failed check always reports at least one error, but an empty list must not read as "fine".
      if (issues.length === 0) issues.push({ path: "(root)", message: "does not match the schema" });
      return { ok: false, issues, message: formatIssues(issues) };
    },
  };
}
