import { buildAnimatedGifFile } from './gif.js';
import type { MediaFile, MediaRequest } from './media-file.js';
import { buildMp4File } from './mp4.js';
import { buildPngFile } from './png.js';
import { buildAnimatedWebpFile } from './webp.js';

export type { MediaFile, MediaRequest } from './media-file.js';

/** The file formats the emulator can generate. */
export const MEDIA_KINDS = ['png', 'webp', 'gif', 'mp4'] as const;
export type MediaKind = (typeof MEDIA_KINDS)[number];

/** Builds the generated file of the given kind for one output. */
export function buildMediaFile(kind: MediaKind, request: MediaRequest): MediaFile {
  switch (kind) {
    case 'png':
      return buildPngFile(request);
    case 'webp':
      return buildAnimatedWebpFile(request);
    case 'gif':
      return buildAnimatedGifFile(request);
    case 'mp4':
      return buildMp4File(request);
  }
}
