/**
 * Deterministic object keys for pipeline outputs.
 *
 * Pure and sandbox-safe (no Node imports, no I/O): workflow code may compute the same keys the
 * activities write to.
 */
import { InvalidObjectKeyError } from './errors.js';

/** S3 and R2 refuse keys longer than this many UTF-8 bytes. */
export const MAX_OBJECT_KEY_BYTES = 1024;

/** Longest encoded segment; longer ones are shortened with a hash so keys stay well below the limit. */
export const MAX_KEY_SEGMENT_CHARS = 200;

/** Top-level folder of every pipeline output. */
export const OUTPUT_KEY_ROOT = 'pipelines';

/** What identifies one output file of a pipeline. */
export interface OutputKeyParts {
  pipelineId: string;
  stepId: string;
  /** ComfyUI node id that produced the file. */
  nodeId: string;
  /** File name as reported by the remote API: untrusted, encoded into one segment. */
  filename: string;
  /**
   * Number of the RunComfy job attempt (1, 2, …). Pass it whenever a step may run more than one job,
   * so two jobs' files with the same name never share a key (a key is written once and then reused).
   */
  attempt?: number;
}

// Characters kept as they are; everything else is percent-encoded (UTF-8), including '%', so the
// encoding is injective: two different inputs never give the same segment.
const SAFE_CHAR = /^[A-Za-z0-9._:-]$/;

/**
 * Encodes an untrusted string as ONE key segment: it can never contain '/' or '\', never be '.' or
 * '..', holds only `[A-Za-z0-9._:-]` and `%XX` escapes, and is at most {@link MAX_KEY_SEGMENT_CHARS}
 * characters (longer ones keep a prefix, a hash of the whole value and a short extension).
 * Throws {@link InvalidObjectKeyError} for an empty value.
 */
export function encodeKeySegment(value: string, what = 'key segment'): string {
  if (value.length === 0) throw new InvalidObjectKeyError({ message: `${what} must not be empty` });
  // One piece per character, so a shortened segment never splits a character's escapes.
  const pieces: string[] = [];
  for (const char of value) {
    if (SAFE_CHAR.test(char)) {
      pieces.push(char);
      continue;
    }
    const codePoint = char.codePointAt(0) ?? 0;
    // A lone surrogate (possible in JSON text) has no UTF-8 form: store the replacement character.
    pieces.push(codePoint >= 0xd800 && codePoint <= 0xdfff ? '%EF%BF%BD' : percentEncode(char));
  }
  const encoded = pieces.join('');
  if (encoded === '.' || encoded === '..') return encoded.replaceAll('.', '%2E');
  return encoded.length > MAX_KEY_SEGMENT_CHARS ? shortenSegment(value, pieces) : encoded;
}

/**
 * The key of one output file: `pipelines/<pipelineId>/<stepId>/<nodeId>/<filename>`, or
 * `pipelines/<pipelineId>/<stepId>/attempt-<n>/<nodeId>/<filename>` when `attempt` is given.
 * Every part is encoded with {@link encodeKeySegment}, so a remote file name like `../../x` or
 * `a/b.png` stays inside its folder. The same parts always give the same key.
 */
export function deterministicOutputKey(parts: OutputKeyParts): string {
  const segments = [OUTPUT_KEY_ROOT, encodeKeySegment(parts.pipelineId, 'pipeline id'), encodeKeySegment(parts.stepId, 'step id')];
  if (parts.attempt !== undefined) {
    if (!Number.isSafeInteger(parts.attempt) || parts.attempt < 1) {
      throw new InvalidObjectKeyError({ message: `attempt must be a positive integer, got ${String(parts.attempt)}` });
    }
    segments.push(`attempt-${parts.attempt}`);
  }
  segments.push(encodeKeySegment(parts.nodeId, 'node id'), encodeKeySegment(parts.filename, 'file name'));
  const key = segments.join('/');
  assertObjectKeyLength(key);
  return key;
}

/** Throws {@link InvalidObjectKeyError} unless `key` is non-empty and at most {@link MAX_OBJECT_KEY_BYTES} UTF-8 bytes. */
export function assertObjectKeyLength(key: string): void {
  if (key.length === 0) throw new InvalidObjectKeyError({ message: 'object key must not be empty' });
  const bytes = utf8ByteLength(key);
  if (bytes > MAX_OBJECT_KEY_BYTES) {
    throw new InvalidObjectKeyError({ message: `object key is ${bytes} bytes long; the limit is ${MAX_OBJECT_KEY_BYTES}` });
  }
}

/** The last segment of a key, e.g. the file name of an output key. */
export function keyBasename(key: string): string {
  return key.slice(key.lastIndexOf('/') + 1);
}

function percentEncode(char: string): string {
  // encodeURIComponent leaves !'()*~ alone; they are escaped too so the safe set stays small.
  return encodeURIComponent(char).replace(/[!'()*~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function shortenSegment(original: string, pieces: readonly string[]): string {
  const hash = fnv1a32Hex(original, 0x811c9dc5) + fnv1a32Hex(original, 0x01000193);
  const extensionMatch = /\.[A-Za-z0-9]{1,10}$/.exec(original);
  const extension = extensionMatch ? extensionMatch[0] : '';
  // '~' never occurs in an encoded segment, so a shortened segment cannot equal a plain one.
  const suffix = `~${hash}${extension}`;
  let head = '';
  for (const piece of pieces) {
    if (head.length + piece.length > MAX_KEY_SEGMENT_CHARS - suffix.length) break;
    head += piece;
  }
  return head + suffix;
}

/**
 * 32-bit FNV-1a over UTF-16 code units: a stable fingerprint, not a security hash. Two runs with
 * different offset bases give 64 bits, enough to keep shortened names of one folder apart.
 */
function fnv1a32Hex(value: string, offsetBasis: number): string {
  let hash = offsetBasis >>> 0;
  for (let index = 0; index < value.length; index++) {
    hash ^= value.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, '0');
}

function utf8ByteLength(value: string): number {
  let bytes = 0;
  for (const char of value) {
    const codePoint = char.codePointAt(0) ?? 0;
    bytes += codePoint < 0x80 ? 1 : codePoint < 0x800 ? 2 : codePoint < 0x10000 ? 3 : 4;
  }
  return bytes;
}
