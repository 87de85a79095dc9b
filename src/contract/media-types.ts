/**
 * Media types of the files ComfyUI pipelines produce, by extension. Pure data, shared by the
 * RunComfy output classifier and the object store.
 */

/** Media types by lower-case file extension, for the files ComfyUI pipelines produce. */
export const CONTENT_TYPES_BY_EXTENSION: Readonly<Record<string, string>> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
  gif: 'image/gif',
  avif: 'image/avif',
  bmp: 'image/bmp',
  tif: 'image/tiff',
  tiff: 'image/tiff',
  svg: 'image/svg+xml',
  exr: 'image/x-exr',
  mp4: 'video/mp4',
  m4v: 'video/mp4',
  webm: 'video/webm',
  mov: 'video/quicktime',
  mkv: 'video/x-matroska',
  avi: 'video/x-msvideo',
  wav: 'audio/wav',
  mp3: 'audio/mpeg',
  flac: 'audio/flac',
  ogg: 'audio/ogg',
  opus: 'audio/opus',
  m4a: 'audio/mp4',
  aac: 'audio/aac',
  json: 'application/json',
  txt: 'text/plain; charset=utf-8',
  glb: 'model/gltf-binary',
  gltf: 'model/gltf+json',
  safetensors: 'application/octet-stream',
  zip: 'application/zip',
};
