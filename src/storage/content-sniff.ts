/**
 * What a stored file really is, from its first bytes, and how it may be served. The source's
 * `Content-Type` is data from outside: a `.png` served as `text/html` would become active content
 * when opened through a presigned link. The file's own signature (or, failing that, its name) wins
 * over what the source says, and anything that is not a plain image or video is stored with
 * `Content-Disposition: attachment` so browsers download it instead of rendering it.
 */
import { contentTypeForFilename, informativeContentType } from './content-type.js';

/** Bytes of the file's head that {@link sniffContentType} looks at. */
export const SNIFF_BYTES = 64;

const ascii = (head: Buffer, offset: number, text: string): boolean => head.length >= offset + text.length && head.toString('latin1', offset, offset + text.length) === text;
const bytes = (head: Buffer, offset: number, values: readonly number[]): boolean => head.length >= offset + values.length && values.every((value, index) => head[offset + index] === value);

/** The media type a file's signature proves, or undefined when it has no signature known here. */
export function sniffContentType(head: Buffer): string | undefined {
  if (bytes(head, 0, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'image/png';
  if (bytes(head, 0, [0xff, 0xd8, 0xff])) return 'image/jpeg';
  if (ascii(head, 0, 'GIF87a') || ascii(head, 0, 'GIF89a')) return 'image/gif';
  if (ascii(head, 0, 'RIFF') && ascii(head, 8, 'WEBP')) return 'image/webp';
  if (ascii(head, 0, 'RIFF') && ascii(head, 8, 'WAVE')) return 'audio/wav';
  if (ascii(head, 0, 'RIFF') && ascii(head, 8, 'AVI ')) return 'video/x-msvideo';
  if (ascii(head, 4, 'ftyp')) {
    const brand = head.toString('latin1', 8, 12);
    if (brand === 'avif' || brand === 'avis') return 'image/avif';
    if (brand === 'qt  ') return 'video/quicktime';
    if (brand.startsWith('M4A')) return 'audio/mp4';
    return 'video/mp4';
  }
  if (bytes(head, 0, [0x1a, 0x45, 0xdf, 0xa3])) return head.includes('webm', 0, 'latin1') ? 'video/webm' : 'video/x-matroska';
  if (ascii(head, 0, 'fLaC')) return 'audio/flac';
  if (ascii(head, 0, 'OggS')) return 'audio/ogg';
  if (ascii(head, 0, 'ID3') || bytes(head, 0, [0xff, 0xfb])) return 'audio/mpeg';
  if (ascii(head, 0, 'BM')) return 'image/bmp';
  if (bytes(head, 0, [0x49, 0x49, 0x2a, 0x00]) || bytes(head, 0, [0x4d, 0x4d, 0x00, 0x2a])) return 'image/tiff';
  if (bytes(head, 0, [0x76, 0x2f, 0x31, 0x01])) return 'image/x-exr';
  if (ascii(head, 0, 'glTF')) return 'model/gltf-binary';
  if (bytes(head, 0, [0x50, 0x4b, 0x03, 0x04])) return 'application/zip';
  return undefined;
}

const essence = (type: string): string => type.split(';', 1)[0]!.trim().toLowerCase();

/**
 * The type to store: the caller's explicit choice, else the file's signature, else its name's
 * extension, else the source's header (informative ones only), else octet-stream. A source
 * header never overrides what the bytes or the name say.
 */
export function storedContentType(choices: { explicit?: string | undefined; head: Buffer; fromSource?: string | undefined; filenames: readonly string[] }): string {
  if (choices.explicit !== undefined) {
    const explicit = informativeContentType(choices.explicit);
    if (explicit) return explicit;
  }
  const sniffed = sniffContentType(choices.head);
  if (sniffed) return sniffed;
  for (const filename of choices.filenames) {
    const byName = contentTypeForFilename(filename);
    if (byName) return byName;
  }
  const fromSource = informativeContentType(choices.fromSource);
  // An image or video claim the bytes did not back up is not believed (every format a pipeline
  // makes has a signature above); other claims are kept, and get `attachment` below.
  if (fromSource === undefined || /^(image|video)\//i.test(fromSource)) return 'application/octet-stream';
  return fromSource;
}

/**
 * `attachment` for everything but raster images and video: those render inertly; HTML, SVG
 * (scriptable), PDF, text and unknown types must not open in the bucket's origin.
 */
export function contentDispositionFor(contentType: string): string | undefined {
  const type = essence(contentType);
  if (type === 'image/svg+xml') return 'attachment';
  if (type.startsWith('image/') || type.startsWith('video/')) return undefined;
  return 'attachment';
}
