import zlib from 'node:zlib';
import { crc32 } from './crc32.js';
import { FillSource } from './fill.js';
import { FRAME_SIDE_PX, seedColour, type MediaFile, type MediaRequest } from './media-file.js';

/** The eight bytes every PNG file starts with. */
export const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

// Ancillary (lower-case first letter), private (lower-case second), safe-to-copy chunk: decoders skip it.
const PADDING_CHUNK_TYPE = Buffer.from('emPd', 'latin1');
const PNG_CHUNK_OVERHEAD_BYTES = 12;
// PNG chunk lengths are limited to 2^31-1; 1 GiB chunks keep every length well inside that.
const MAX_PADDING_CHUNK_DATA_BYTES = 1 << 30;

/** One PNG chunk: length, type, data, CRC over type and data. */
export function pngChunk(type: string, data: Buffer): Buffer {
  const chunk = Buffer.allocUnsafe(PNG_CHUNK_OVERHEAD_BYTES + data.length);
  chunk.writeUInt32BE(data.length, 0);
  chunk.write(type, 4, 'latin1');
  data.copy(chunk, 8);
  chunk.writeUInt32BE(crc32(chunk.subarray(4, 8 + data.length)), 8 + data.length);
  return chunk;
}

/** Encodes 8-bit RGB pixels (row-major, 3 bytes per pixel) as a complete PNG file. */
export function encodePngRgb(width: number, height: number, rgb: Buffer, textMetadata: Readonly<Record<string, string>> = {}): Buffer {
  return Buffer.concat([pngHead(width, height, rgb, textMetadata), pngChunk('IEND', Buffer.alloc(0))]);
}

function pngHead(width: number, height: number, rgb: Buffer, textMetadata: Readonly<Record<string, string>>): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // colour type: truecolour
  // compression, filter and interlace methods stay 0
  const rowBytes = width * 3;
  const raw = Buffer.alloc((rowBytes + 1) * height);
  for (let y = 0; y < height; y++) {
    // filter byte 0 (None) starts each scanline
    rgb.copy(raw, y * (rowBytes + 1) + 1, y * rowBytes, (y + 1) * rowBytes);
  }
  const textChunks = Object.entries(textMetadata).map(([keyword, text]) =>
    pngChunk('tEXt', Buffer.concat([Buffer.from(keyword, 'latin1'), Buffer.from([0]), Buffer.from(text, 'latin1')])),
  );
  return Buffer.concat([PNG_SIGNATURE, pngChunk('IHDR', header), ...textChunks, pngChunk('IDAT', zlib.deflateSync(raw))]);
}

/** Draws a seed-dependent picture: a two-colour diagonal gradient crossed by a seed-sized checkerboard. */
export function drawSeededRgb(seed: Buffer, width: number, height: number, frameIndex = 0): Buffer {
  const [r1, g1, b1] = seedColour(seed, 0);
  const [r2, g2, b2] = seedColour(seed, 3);
  const cell = 2 + ((seed[6] ?? 0) % 7);
  const shift = frameIndex * 2;
  const rgb = Buffer.allocUnsafe(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const t = (x + y) / (width + height - 2 || 1);
      const checker = (Math.floor((x + shift) / cell) + Math.floor(y / cell)) & 1 ? 24 : 0;
      const offset = (y * width + x) * 3;
      rgb[offset] = Math.min(255, Math.round(r1 + (r2 - r1) * t) + checker);
      rgb[offset + 1] = Math.min(255, Math.round(g1 + (g2 - g1) * t) + checker);
      rgb[offset + 2] = Math.min(255, Math.round(b1 + (b2 - b1) * t) + checker);
    }
  }
  return rgb;
}

/**
 * A PNG output file. Padding, when asked for, goes into private ancillary chunks between IDAT and
 * IEND, so the file stays a valid PNG at any size; the padding chunks' CRCs are computed while streaming.
 */
export function buildPngFile(request: MediaRequest): MediaFile {
  const head = pngHead(FRAME_SIDE_PX, FRAME_SIDE_PX, drawSeededRgb(request.pixelSeed, FRAME_SIDE_PX, FRAME_SIDE_PX), request.textMetadata ?? {});
  const tail = pngChunk('IEND', Buffer.alloc(0));
  const naturalBytes = head.length + tail.length;
  const paddingChunks = planPadding(naturalBytes, request.targetBytes);
  const sizeBytes = naturalBytes + paddingChunks.reduce((sum, dataBytes) => sum + dataBytes + PNG_CHUNK_OVERHEAD_BYTES, 0);
  return {
    contentType: 'image/png',
    extension: 'png',
    sizeBytes,
    *chunks() {
      yield head;
      const fill = new FillSource(request.fileSeed);
      for (const dataBytes of paddingChunks) {
        const chunkHead = Buffer.allocUnsafe(8);
        chunkHead.writeUInt32BE(dataBytes, 0);
        PADDING_CHUNK_TYPE.copy(chunkHead, 4);
        yield chunkHead;
        let crc = crc32(PADDING_CHUNK_TYPE);
        for (const block of fill.take(dataBytes)) {
          crc = crc32(block, crc);
          yield block;
        }
        const crcBytes = Buffer.allocUnsafe(4);
        crcBytes.writeUInt32BE(crc, 0);
        yield crcBytes;
      }
      yield tail;
    },
  };
}

/** Data sizes of the padding chunks needed to reach `targetBytes` (none when the gap is below one chunk header). */
function planPadding(naturalBytes: number, targetBytes: number | undefined): number[] {
  if (targetBytes === undefined || targetBytes < naturalBytes + PNG_CHUNK_OVERHEAD_BYTES) return [];
  const chunks: number[] = [];
  let gap = targetBytes - naturalBytes;
  while (gap > 0) {
    const dataBytes = Math.min(gap - PNG_CHUNK_OVERHEAD_BYTES, MAX_PADDING_CHUNK_DATA_BYTES);
    chunks.push(dataBytes);
    gap -= dataBytes + PNG_CHUNK_OVERHEAD_BYTES;
    // a remainder smaller than a chunk header cannot hold another chunk: fold it into this one
    if (gap > 0 && gap < PNG_CHUNK_OVERHEAD_BYTES) {
      chunks[chunks.length - 1] = dataBytes + gap;
      gap = 0;
    }
  }
  return chunks;
}
