// Which route a request is for: exact paths (the API server has no parameters in its paths), case-sensitive, no
// trailing-slash folding; a GET route also answers HEAD. The path is taken from the request target as fastify's
// router (find-my-way) took it, so that the same requests reach the same routes: an absolute-form target loses its
// origin, the query (`?`) and fragment (`#`) are dropped, percent-escapes are decoded (malformed ones: 400).

/** The route path of a request target; undefined when its percent-escapes are malformed. */
export function routePath(target: string): string | undefined {
  let path = target.charCodeAt(0) === 47 ? target : target.replace(/^https?:\/\/.*?\//, "/");
  const end = path.search(/[?#]/);
  if (end !== -1) path = path.slice(0, end);
  if (!path.includes("%")) return path;
  try {
    return decodeURIComponent(path);
  } catch {
    return undefined;
  }
}

/** The path without query or fragment, undecoded: what a bad-URL answer names. */
export function rawPath(target: string): string {
  const end = target.search(/[?#]/);
  return end === -1 ? target : target.slice(0, end);
}

export class Router<R> {
  readonly #routes = new Map<string, R>();

  add(method: string, path: string, route: R): void {
    const key = `${method} ${path}`;
    if (this.#routes.has(key)) throw new Error(`route ${key} registered twice`);
    this.#routes.set(key, route);
  }

  find(method: string, path: string): R | undefined {
    return this.#routes.get(`${method} ${path}`) ?? (method === "HEAD" ? this.#routes.get(`GET ${path}`) : undefined);
  }
}
