import { BitWriter } from './bit-writer.js';
import { FillSource } from './fill.js';
import { ANIMATION_FRAME_COUNT, FRAME_SIDE_PX, seedColour, writeUInt24LE, type MediaFile, type MediaRequest } from './media-file.js';

const RIFF_HEADER_BYTES = 12;
const CHUNK_HEADER_BYTES = 8;
const MAX_PADDING_CHUNK_DATA_BYTES = 1 << 30;
const RIFF_MAX_PAYLOAD_BYTES = 0xfffffffe;

/**
 * One lossless (VP8L) frame with two colours that differ only in green: every prefix code but green
 * has a single symbol, which costs zero bits per pixel, and green has two 1-bit symbols, so the
 * pixel data is one bit per pixel choosing between the two shades.
 */
export function encodeVp8lTwoShadeFrame(width: number, height: number, colour: [number, number, number], pattern: (x: number, y: number) => boolean): Buffer {
  const [red, green, blue] = colour;
  const shadeA = green;
  const shadeB = green >= 128 ? green - 96 : green + 96;
  const lowShade = Math.min(shadeA, shadeB);
  const highShade = Math.max(shadeA, shadeB);
  const bits = new BitWriter('lsb-first');
  bits.write(0x2f, 8); // VP8L signature
  bits.write(width - 1, 14);
  bits.write(height - 1, 14);
  bits.write(0, 1); // alpha_is_used
  bits.write(0, 3); // version
  bits.write(0, 1); // no transforms
  bits.write(0, 1); // no colour cache
  bits.write(0, 1); // no meta prefix codes
  // green: simple code, two 8-bit symbols; canonical codes give the smaller symbol bit 0
  bits.write(1, 1);
  bits.write(1, 1);
  bits.write(1, 1);
  bits.write(lowShade, 8);
  bits.write(highShade, 8);
  for (const single of [red, blue, 255]) {
    // red, blue, alpha: simple code with one 8-bit symbol
    bits.write(1, 1);
    bits.write(0, 1);
    bits.write(1, 1);
    bits.write(single, 8);
  }
  // distance: simple code with one 1-bit symbol (0); never used because there are no back-references
  bits.write(1, 1);
  bits.write(0, 1);
  bits.write(0, 1);
  bits.write(0, 1);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) bits.write(pattern(x, y) ? 1 : 0, 1);
  }
  return bits.toBuffer();
}

function riffChunk(fourCc: string, payload: Buffer): Buffer {
  const padding = payload.length & 1;
  const chunk = Buffer.alloc(CHUNK_HEADER_BYTES + payload.length + padding);
  chunk.write(fourCc, 0, 'latin1');
  chunk.writeUInt32LE(payload.length, 4);
  payload.copy(chunk, CHUNK_HEADER_BYTES);
  return chunk;
}

/** The chunks of an animated WEBP (VP8X + ANIM + one ANMF per frame), without the RIFF header. */
function animatedWebpBody(request: MediaRequest): Buffer {
  const side = FRAME_SIDE_PX;
  const vp8x = Buffer.alloc(10);
  vp8x[0] = 0x02; // animation flag
  writeUInt24LE(vp8x, side - 1, 4);
  writeUInt24LE(vp8x, side - 1, 7);
  const anim = Buffer.alloc(6);
  anim.writeUInt32LE(0xff000000, 0); // background colour (BGRA): opaque black
  anim.writeUInt16LE(0, 4); // loop forever
  const framesPerSecond = request.framesPerSecond && request.framesPerSecond > 0 ? request.framesPerSecond : 8;
  const frameDurationMs = Math.max(1, Math.round(1000 / framesPerSecond));
  const colour = seedColour(request.pixelSeed, 0);
  const stripe = 2 + ((request.pixelSeed[5] ?? 0) % 6);
  const frames: Buffer[] = [];
  for (let frame = 0; frame < ANIMATION_FRAME_COUNT; frame++) {
    const vp8l = encodeVp8lTwoShadeFrame(side, side, colour, (x, y) => Math.floor((x + y + frame * 3) / stripe) % 2 === 0);
    const header = Buffer.alloc(16);
    writeUInt24LE(header, 0, 0); // X offset / 2
    writeUInt24LE(header, 0, 3); // Y offset / 2
    writeUInt24LE(header, side - 1, 6);
    writeUInt24LE(header, side - 1, 9);
    writeUInt24LE(header, frameDurationMs, 12);
    header[15] = 0x02; // do not blend, no disposal
    frames.push(riffChunk('ANMF', Buffer.concat([header, riffChunk('VP8L', vp8l)])));
  }
  return Buffer.concat([riffChunk('VP8X', vp8x), riffChunk('ANIM', anim), ...frames]);
}

/**
 * An animated WEBP output file, as ComfyUI's SaveAnimatedWEBP writes. Padding goes into unknown
 * RIFF chunks after the frames (decoders skip them). RIFF sizes are 32-bit: bytes beyond 4 GiB are
 * appended after the RIFF container, which decoders ignore but strict validators may not.
 */
export function buildAnimatedWebpFile(request: MediaRequest): MediaFile {
  const body = animatedWebpBody(request);
  const naturalBytes = RIFF_HEADER_BYTES + body.length;
  const gap = request.targetBytes !== undefined && request.targetBytes >= naturalBytes + CHUNK_HEADER_BYTES * 2 ? request.targetBytes - naturalBytes : 0;
  // Padding chunks inside the RIFF: each is a header plus an even data size, so no pad bytes appear.
  const insideChunks: number[] = [];
  let insideGap = Math.min(gap, RIFF_MAX_PAYLOAD_BYTES - 4 - body.length);
  insideGap -= insideGap & 1;
  while (insideGap >= CHUNK_HEADER_BYTES * 2) {
    let dataBytes = Math.min(insideGap - CHUNK_HEADER_BYTES, MAX_PADDING_CHUNK_DATA_BYTES);
    const rest = insideGap - CHUNK_HEADER_BYTES - dataBytes;
    if (rest > 0 && rest < CHUNK_HEADER_BYTES * 2) dataBytes += rest;
    insideChunks.push(dataBytes);
    insideGap -= CHUNK_HEADER_BYTES + dataBytes;
  }
  const insideBytes = insideChunks.reduce((sum, dataBytes) => sum + CHUNK_HEADER_BYTES + dataBytes, 0);
  const trailingBytes = gap - insideBytes;
  const sizeBytes = naturalBytes + gap;
  const riffHeader = Buffer.alloc(RIFF_HEADER_BYTES);
  riffHeader.write('RIFF', 0, 'latin1');
  riffHeader.writeUInt32LE(4 + body.length + insideBytes, 4);
  riffHeader.write('WEBP', 8, 'latin1');
  return {
    contentType: 'image/webp',
    extension: 'webp',
    sizeBytes,
    *chunks() {
      yield riffHeader;
      yield body;
      const fill = new FillSource(request.fileSeed);
      for (const dataBytes of insideChunks) {
        const header = Buffer.alloc(CHUNK_HEADER_BYTES);
        header.write('PADD', 0, 'latin1');
        header.writeUInt32LE(dataBytes, 4);
        yield header;
        yield* fill.take(dataBytes);
      }
      if (trailingBytes > 0) yield* fill.take(trailingBytes);
    },
  };
}
