// The media type of a Content-Type header, as fastify judged it (the API server was built on it, and agents and
// kube-apiserver saw its answers): `type/subtype` lowercased, parameters ignored; a header that is not a media type
// is invalid (415 whatever the route).

const TOKEN = /^[\w!#$%&'*+.^`|~-]+$/;
const SUBTYPE = /^[\w!#$%&'*+.^`|~-]+\s*$/;

/** undefined: no header; null: not a media type; else `type/subtype`, lowercased. */
export function mediaTypeOf(header: string | undefined): string | null | undefined {
  if (header === undefined) return undefined;
  if (header === "" || header === "undefined") return null;
  const semicolon = header.indexOf(";");
  const essence = (semicolon === -1 ? header : header.slice(0, semicolon)).toLowerCase();
  const slash = essence.indexOf("/");
  if (slash === -1) return null;
  const type = essence.slice(0, slash).trimStart();
  const subtype = essence.slice(slash + 1).trimEnd();
  if (!TOKEN.test(type) || !SUBTYPE.test(subtype)) return null;
  return `${type}/${subtype}`;
}
