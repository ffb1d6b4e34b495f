// Runtime validation from the same TypeBox schemas that produce the CRD, with messages a Kubernetes user can act
// on: `spec.state: must be one of Idle, … (got "Foo")` rather than a JSON pointer and a bare keyword.
import type { Static, TSchema } from "typebox";
import { Compile } from "typebox/compile";
import { toValidationSchema } from "./k8s-schema.ts";

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

function describeValue(value: unknown): string {
  if (value === undefined) return "nothing";
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

interface RawError {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  message: string;
}

function toIssues(error: RawError, root: unknown, options: ValidatorOptions): ValidationIssue[] {
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
  const compiled = Compile(toValidationSchema(schema));
  const check = (value: unknown): value is Static<T> => compiled.Check(value);
  return {
    check,
    validate: (value) => {
      if (check(value)) return { ok: true, value };
      const issues = compiled.Errors(value).flatMap((error) => toIssues(error as RawError, value, options));
      // Defensive: a failed check always reports at least one error, but an empty list must not read as "fine".
      if (issues.length === 0) issues.push({ path: "(root)", message: "does not match the schema" });
      return { ok: false, issues, message: formatIssues(issues) };
    },
  };
}
