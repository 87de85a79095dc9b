/**
 * Content types of stored outputs. Pure (no Node imports).
 */

/** Stored when nothing better is known. */
export const DEFAULT_CONTENT_TYPE = 'application/octet-stream';

export { CONTENT_TYPES_BY_EXTENSION } from '../contract/media-types.js';
import { CONTENT_TYPES_BY_EXTENSION } from '../contract/media-types.js';

// type/subtype with optional parameters; no control characters (the value becomes a header).
const MEDIA_TYPE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*(\s*;[\x20-\x7e]*)?$/;
const MAX_CONTENT_TYPE_CHARS = 200;

/** Types that say nothing about the bytes: servers send them for everything. */
const UNINFORMATIVE_TYPES: ReadonlySet<string> = new Set(['application/octet-stream', 'binary/octet-stream', 'application/binary', 'application/unknown']);

/** The media type for a file name by its extension, or undefined when the extension is unknown. */
export function contentTypeForFilename(filename: string): string | undefined {
  const dot = filename.lastIndexOf('.');
  if (dot < 0 || dot === filename.length - 1) return undefined;
  return CONTENT_TYPES_BY_EXTENSION[filename.slice(dot + 1).toLowerCase()];
}

/**
 * A usable `Content-Type` header value, trimmed, or undefined when it is missing, malformed or
 * only says "some bytes" (`application/octet-stream` and friends): a file name says more.
 */
export function informativeContentType(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (trimmed.length === 0 || trimmed.length > MAX_CONTENT_TYPE_CHARS || !MEDIA_TYPE.test(trimmed)) return undefined;
  const essence = trimmed.split(';', 1)[0]!.trim().toLowerCase();
  return UNINFORMATIVE_TYPES.has(essence) ? undefined : trimmed;
}

/**
 * Picks the content type to store: the caller's (when valid), else the source's `Content-Type`
 * (when informative), else by the extension of the given file names in order, else
 * {@link DEFAULT_CONTENT_TYPE}.
 */
export function resolveContentType(choices: { explicit?: string | undefined; fromSource?: string | undefined; filenames: readonly string[] }): string {
  const explicit = choices.explicit?.trim();
  if (explicit && explicit.length <= MAX_CONTENT_TYPE_CHARS && MEDIA_TYPE.test(explicit)) return explicit;
  const fromSource = informativeContentType(choices.fromSource);
  if (fromSource) return fromSource;
  for (const filename of choices.filenames) {
    const byExtension = contentTypeForFilename(filename);
    if (byExtension) return byExtension;
  }
  return DEFAULT_CONTENT_TYPE;
}
