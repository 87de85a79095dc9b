import { Readable } from 'node:stream';
import { encodePngRgb } from '../../src/emulator/media/png.js';
import type { ObjectStore } from '../../src/storage/object-store.js';

/**
 * Stores a small real PNG (a face stand-in) in the test bucket and returns its r2:// reference for a
 * spec, or, for workflow code older than r2:// references (upgrade tests), a presigned URL.
 */
export async function storeFaceImage(store: ObjectStore, key: string, as: 'reference' | 'presigned' = 'reference'): Promise<string> {
  const side = 16;
  const rgb = Buffer.alloc(side * side * 3);
  for (let i = 0; i < rgb.length; i++) rgb[i] = (i * 37) % 251;
  await store.putObjectFromStream({ key, body: Readable.from([encodePngRgb(side, side, rgb)]), contentType: 'image/png' });
  return as === 'presigned' ? store.presignGet(key, { expiresInSeconds: 3600 }) : `r2://${key}`;
}
