/**
 * Removes what must not travel with a URL into history, logs or a terminal: query strings and
 * fragments (signatures, tokens, presigned credentials) and userinfo. Pure: safe anywhere.
 */

/** Placeholder left where a query string was, so a reader sees that something was removed. */
export const QUERY_REMOVED = '?…';

// A URL-ish token: scheme, "://", then anything up to whitespace, a quote or a bracket.
const URL_IN_TEXT = /\b([a-z][a-z0-9+.-]{1,15}):\/\/([^\s"'<>()[\]{}`]+)/gi;

/** `url` without its query, fragment and userinfo; an unparseable value loses everything after `?`/`#`. */
export function urlWithoutQuery(url: string): string {
  try {
    const parsed = new URL(url);
    const hadQuery = parsed.search !== '' || parsed.hash !== '';
    parsed.search = '';
    parsed.hash = '';
    parsed.username = '';
    parsed.password = '';
    return hadQuery ? `${parsed.href}${QUERY_REMOVED}` : parsed.href;
  } catch {
    const cut = url.search(/[?#]/);
    return cut < 0 ? url : `${url.slice(0, cut)}${QUERY_REMOVED}`;
  }
}

/** Every URL inside free text (a remote error message) with its query, fragment and userinfo removed. */
export function stripUrlQueries(text: string): string {
  return text.replace(URL_IN_TEXT, (_match, scheme: string, rest: string) => {
    const withoutUser = rest.replace(/^[^/?#@]*@/, '');
    const cut = withoutUser.search(/[?#]/);
    return `${scheme}://${cut < 0 ? withoutUser : `${withoutUser.slice(0, cut)}${QUERY_REMOVED}`}`;
  });
}

/** A deep copy of a JSON-like value with {@link stripUrlQueries} applied to every string. */
export function stripUrlQueriesDeep<T>(value: T, depth = 0): T {
  if (typeof value === 'string') return stripUrlQueries(value) as T;
  if (depth > 8 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((item: unknown) => stripUrlQueriesDeep(item, depth + 1)) as T;
  return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([key, item]) => [key, stripUrlQueriesDeep(item, depth + 1)])) as T;
}
