/**
 * Parses an HTTP `Retry-After` header into a delay in milliseconds.
 *
 * Accepts both forms of RFC 9110 §10.2.3: delta-seconds (`"120"`; a decimal such as `"1.5"` is
 * tolerated because some proxies send one) and an HTTP date (`"Wed, 21 Oct 2026 07:28:00 GMT"`).
 * A date in the past yields 0. Anything unparseable, negative or absurdly large yields `undefined`
 * so the caller falls back to its own backoff instead of sleeping on garbage.
 *
 * @param value the raw header value; undici hands repeated headers over as an array, the first wins
 * @param nowMs the current time, injectable so date arithmetic is testable
 */
export function parseRetryAfterMs(value: string | readonly string[] | undefined | null, nowMs: number = Date.now()): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value;
  if (typeof raw !== 'string') return undefined;
  const trimmed = raw.trim();
  if (trimmed === '') return undefined;

  if (/^\d+(\.\d+)?$/.test(trimmed)) {
    const ms = Math.round(Number(trimmed) * 1000);
    return ms <= MAX_RETRY_AFTER_MS ? ms : undefined;
  }

  // Date.parse also accepts loose formats like "2026"; require something that looks like an HTTP date
  // (weekday or month name) so a stray token is not misread as a year.
  if (!/[a-z]{3}/i.test(trimmed)) return undefined;
  const atMs = Date.parse(trimmed);
  if (Number.isNaN(atMs)) return undefined;
  const delayMs = Math.max(0, atMs - nowMs);
  return delayMs <= MAX_RETRY_AFTER_MS ? delayMs : undefined;
}

/** Upper bound on an honoured Retry-After (one day): beyond it the header is treated as unusable. */
export const MAX_RETRY_AFTER_MS = 24 * 60 * 60 * 1000;
