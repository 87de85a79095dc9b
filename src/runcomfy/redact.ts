/** Placeholder written wherever the bearer token would otherwise appear. */
export const REDACTED = '[redacted]';

/**
 * Replaces every occurrence of `secret` in `text` with {@link REDACTED}.
 * Secrets shorter than 4 characters are not searched for: replacing them would mangle ordinary text
 * while protecting nothing.
 */
export function redactSecret(text: string, secret: string | undefined): string {
  if (!secret || secret.length < 4 || !text.includes(secret)) return text;
  return text.split(secret).join(REDACTED);
}

/**
 * Removes `secret` from an error chain IN PLACE (message, stack, string properties, `cause`,
 * `AggregateError.errors`) and returns the value to keep as `cause`.
 *
 * In place rather than by cloning because the errors scrubbed here were created for one of this
 * client's own calls, and keeping the original object keeps its class, `code` and stack for debugging.
 * A non-Error cause that is a string is returned scrubbed; other values are returned as they are.
 */
export function scrubCause(cause: unknown, secret: string | undefined): unknown {
  if (!secret || secret.length < 4) return cause;
  if (typeof cause === 'string') return redactSecret(cause, secret);
  scrubErrorChain(cause, secret, new Set<object>(), 0);
  return cause;
}

const MAX_CAUSE_DEPTH = 8;

function scrubErrorChain(value: unknown, secret: string, seen: Set<object>, depth: number): void {
  if (!(value instanceof Error) || seen.has(value) || depth > MAX_CAUSE_DEPTH) return;
  seen.add(value);
  const record = value as unknown as Record<string, unknown>;
  for (const key of [...Object.getOwnPropertyNames(value), 'message', 'stack']) {
    let current: unknown;
    try {
      current = record[key];
    } catch {
      continue;
    }
    if (typeof current === 'string' && current.includes(secret)) {
      try {
        record[key] = redactSecret(current, secret);
      } catch {
        // A read-only property cannot hold the secret we put there; nothing more to do.
      }
    }
  }
  scrubErrorChain(value.cause, secret, seen, depth + 1);
  if (value instanceof AggregateError) {
    for (const inner of value.errors) scrubErrorChain(inner, secret, seen, depth + 1);
  }
}
