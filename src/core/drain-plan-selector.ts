// Label selectors for the drain's pod selector option, in both forms a Kubernetes user writes them: kubectl's text
// (`app=web,tier notin (db),!canary`) and metav1.LabelSelector (matchLabels + matchExpressions). Both become one
// list of requirements, matched with Kubernetes' semantics (NotIn and != also match pods without the key).

export type LabelOperator = "In" | "NotIn" | "Exists" | "DoesNotExist";

export interface LabelRequirement {
  readonly key: string;
  readonly operator: LabelOperator;
  /** For In and NotIn; empty for Exists and DoesNotExist. */
  readonly values: readonly string[];
}

/** The metav1.LabelSelector wire form. */
export interface LabelSelectorObject {
  readonly matchLabels?: Readonly<Record<string, string>>;
  readonly matchExpressions?: readonly { key: string; operator: string; values?: readonly string[] }[];
}

export class LabelSelectorError extends Error {
  override name = "LabelSelectorError";
}

// A qualified name with an optional DNS-subdomain prefix, as in label keys: `app`, `example.com/tier`.
const KEY =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

function checkKey(key: string, context: string): string {
  const name = key.includes("/") ? key.slice(key.indexOf("/") + 1) : key;
  if (!KEY.test(key) || name.length > 63 || key.length > 253 + 1 + 63) {
    throw new LabelSelectorError(`${context}: ${JSON.stringify(key)} is not a valid label key`);
  }
  return key;
}

function checkValue(value: string, context: string): string {
  if (!VALUE.test(value) || value.length > 63) {
    throw new LabelSelectorError(`${context}: ${JSON.stringify(value)} is not a valid label value`);
  }
  return value;
}

/** Splits on commas that are not inside parentheses. */
function splitTerms(text: string): string[] {
  const terms: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "(") depth++;
    else if (c === ")") depth--;
    else if (c === "," && depth === 0) {
      terms.push(text.slice(start, i));
      start = i + 1;
    }
  }
  terms.push(text.slice(start));
  return terms.map((t) => t.trim());
}

function parseTerm(term: string): LabelRequirement {
  const context = `label selector term ${JSON.stringify(term)}`;
  if (term === "") throw new LabelSelectorError(`${context}: empty term (stray comma?)`);
  const setMatch = /^(\S+)\s+(in|notin)\s*\((.*)\)$/.exec(term);
  if (setMatch) {
    const [, key = "", op = "", list = ""] = setMatch;
    const values = list.split(",").map((v) => checkValue(v.trim(), context));
    if (list.trim() === "") throw new LabelSelectorError(`${context}: the set of values is empty`);
    return { key: checkKey(key, context), operator: op === "in" ? "In" : "NotIn", values };
  }
  const compare = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(term);
  if (compare) {
    const [, key = "", op = "", value = ""] = compare;
    return {
      key: checkKey(key, context),
      operator: op === "!=" ? "NotIn" : "In",
      values: [checkValue(value, context)],
    };
  }
  if (term.startsWith("!"))
    return { key: checkKey(term.slice(1).trim(), context), operator: "DoesNotExist", values: [] };
  if (!/\s/.test(term)) return { key: checkKey(term, context), operator: "Exists", values: [] };
  throw new LabelSelectorError(
    `${context}: expected key, !key, key=value, key!=value, key in (a,b) or key notin (a,b)`,
  );
}

/** kubectl's selector text; the empty string selects everything. Throws {@link LabelSelectorError}. */
export function parseLabelSelector(text: string): LabelRequirement[] {
  const trimmed = text.trim();
  if (trimmed === "") return [];
  return splitTerms(trimmed).map(parseTerm);
}

/** A metav1.LabelSelector as requirements. Throws {@link LabelSelectorError} on an unknown operator or bad values. */
export function labelSelectorRequirements(selector: LabelSelectorObject): LabelRequirement[] {
  const requirements: LabelRequirement[] = Object.entries(selector.matchLabels ?? {}).map(([key, value]) => ({
    key: checkKey(key, "matchLabels"),
    operator: "In",
    values: [checkValue(value, `matchLabels.${key}`)],
  }));
  for (const [i, expr] of (selector.matchExpressions ?? []).entries()) {
    const context = `matchExpressions[${i}]`;
    const values = expr.values ?? [];
    switch (expr.operator) {
      case "In":
      case "NotIn":
        if (values.length === 0) throw new LabelSelectorError(`${context}: ${expr.operator} needs values`);
        requirements.push({ key: checkKey(expr.key, context), operator: expr.operator, values: [...values] });
        break;
      case "Exists":
      case "DoesNotExist":
        if (values.length > 0) throw new LabelSelectorError(`${context}: ${expr.operator} takes no values`);
        requirements.push({ key: checkKey(expr.key, context), operator: expr.operator, values: [] });
        break;
      default:
        throw new LabelSelectorError(
          `${context}: operator ${JSON.stringify(expr.operator)} is not one of In, NotIn, Exists, DoesNotExist`,
        );
    }
  }
  return requirements;
}

/** Whether `labels` satisfy every requirement (an empty list matches everything). */
export function matchesLabels(
  requirements: readonly LabelRequirement[],
  labels: Readonly<Record<string, string>> = {},
): boolean {
  return requirements.every(({ key, operator, values }) => {
    const has = Object.hasOwn(labels, key);
    switch (operator) {
      case "Exists":
        return has;
      case "DoesNotExist":
        return !has;
      case "In":
        return has && values.includes(labels[key] ?? "");
      case "NotIn":
        return !has || !values.includes(labels[key] ?? "");
    }
  });
}

/** Back to kubectl text, for logs and status messages. */
export function formatLabelSelector(requirements: readonly LabelRequirement[]): string {
  return requirements
    .map(({ key, operator, values }) => {
      switch (operator) {
        case "Exists":
          return key;
        case "DoesNotExist":
          return `!${key}`;
        case "In":
          return values.length === 1 ? `${key}=${values[0] ?? ""}` : `${key} in (${values.join(",")})`;
        case "NotIn":
          return values.length === 1 ? `${key}!=${values[0] ?? ""}` : `${key} notin (${values.join(",")})`;
      }
    })
    .join(",");
}
