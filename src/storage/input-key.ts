import { basename, extname } from 'node:path';

/** Folder of uploaded pipeline inputs in the bucket (outputs live under `pipelines/`). */
export const INPUT_KEY_PREFIX = 'inputs/';

const SIGNATURES: readonly { contentType: string; extension: string; matches: (bytes: Uint8Array) => boolean }[] = [
  { contentType: 'image/png', extension: '.png', matches: (b) => startsWith(b, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]) },
  { contentType: 'image/jpeg', extension: '.jpg', matches: (b) => startsWith(b, [0xff, 0xd8, 0xff]) },
  { contentType: 'image/gif', extension: '.gif', matches: (b) => startsWith(b, [0x47, 0x49, 0x46, 0x38]) },
  { contentType: 'image/webp', extension: '.webp', matches: (b) => startsWith(b, [0x52, 0x49, 0x46, 0x46]) && startsWith(b.subarray(8), [0x57, 0x45, 0x42, 0x50]) },
  { contentType: 'video/mp4', extension: '.mp4', matches: (b) => startsWith(b.subarray(4), [0x66, 0x74, 0x79, 0x70]) },
];

function startsWith(bytes: Uint8Array, prefix: readonly number[]): boolean {
  return bytes.length >= prefix.length && prefix.every((value, index) => bytes[index] === value);
}

/** Media type and extension of common image/video bytes by their magic number, or undefined. */
export function sniffMedia(bytes: Uint8Array): { contentType: string; extension: string } | undefined {
  const found = SIGNATURES.find((signature) => signature.matches(bytes));
  return found ? { contentType: found.contentType, extension: found.extension } : undefined;
}

/** A file name safe in a key and a URL: letters, digits, `.`, `_`, `-`; at most 100 characters. */
export function safeFileName(name: string): string {
  const cleaned = name.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._]+/, '');
  const extension = extname(cleaned).slice(0, 10);
  const stem = cleaned.slice(0, cleaned.length - extname(cleaned).length).slice(0, 100 - extension.length);
  return `${stem || 'input'}${extension}`;
}

/**
 * The key of an uploaded input, addressed by content: `inputs/<sha256>/<file name>`. Uploading the
 * same file again lands on the same key (and is skipped), so a retried start sees the same input;
 * different bytes never replace a file a running pipeline may still read.
 */
export function inputKey(fileName: string, sha256: string): string {
  return `${INPUT_KEY_PREFIX}${sha256}/${safeFileName(basename(fileName))}`;
}
