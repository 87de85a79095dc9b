import { createHash } from 'node:crypto';

/**
 * JSON with object keys sorted at every level, so two specs that differ only in key order (or in
 * whitespace) serialise identically. Arrays keep their order: step order is meaningful.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

/**
 * A presigned S3/R2 URL without its signing parameters (`X-Amz-*`): two links to the same object
 * signed at different times name the same input. Other URLs are returned unchanged.
 */
export function withoutPresignature(value: string): string {
  if (!/^https?:\/\//i.test(value) || !/[?&]X-Amz-Signature=/i.test(value)) return value;
  try {
    const url = new URL(value);
    for (const name of [...url.searchParams.keys()]) if (/^x-amz-/i.test(name)) url.searchParams.delete(name);
    return url.toString();
  } catch {
    return value;
  }
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const source = value as Record<string, unknown>;
    const sorted: Record<string, unknown> = {};
    for (const key of Object.keys(source).sort()) {
      if (source[key] !== undefined) sorted[key] = sortKeys(source[key]);
    }
    return sorted;
  }
  return typeof value === 'string' ? withoutPresignature(value) : value;
}

/**
 * Lower-case hex SHA-256 of the spec's canonical JSON: the identity of a spec for idempotent starts.
 * Presigned URLs count without their signature, so re-sending a spec with a freshly signed link to
 * the same uploaded input is recognised as the same spec.
 */
export function specSha256(spec: unknown): string {
  return createHash('sha256').update(canonicalJson(spec)).digest('hex');
}
