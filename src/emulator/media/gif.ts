import { BitWriter } from './bit-writer.js';
import { FillSource } from './fill.js';
import { ANIMATION_FRAME_COUNT, FRAME_SIDE_PX, seedColour, type MediaFile, type MediaRequest } from './media-file.js';

const MIN_CODE_SIZE = 2; // four palette entries
const CLEAR_CODE = 1 << MIN_CODE_SIZE;
const END_OF_INFORMATION_CODE = CLEAR_CODE + 1;
const CODE_WIDTH_BITS = MIN_CODE_SIZE + 1;

/**
 * LZW data that never grows its dictionary far enough to widen the code: a clear code after every
 * two pixel codes keeps every code 3 bits wide. Larger than real LZW output, but trivially correct.
 */
function lzwEncodeWithoutCompression(indices: Uint8Array): Buffer {
  const bits = new BitWriter('lsb-first');
  for (let i = 0; i < indices.length; i += 2) {
    bits.write(CLEAR_CODE, CODE_WIDTH_BITS);
    bits.write(indices[i]!, CODE_WIDTH_BITS);
    if (i + 1 < indices.length) bits.write(indices[i + 1]!, CODE_WIDTH_BITS);
  }
  bits.write(END_OF_INFORMATION_CODE, CODE_WIDTH_BITS);
  return bits.toBuffer();
}

function subBlocks(data: Buffer): Buffer {
  const parts: Buffer[] = [];
  for (let offset = 0; offset < data.length; offset += 255) {
    const block = data.subarray(offset, offset + 255);
    parts.push(Buffer.from([block.length]), block);
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

function gifBody(request: MediaRequest): Buffer {
  const side = FRAME_SIDE_PX;
  const screen = Buffer.alloc(7);
  screen.writeUInt16LE(side, 0);
  screen.writeUInt16LE(side, 2);
  screen[4] = 0x80 | ((MIN_CODE_SIZE - 1) << 4) | (MIN_CODE_SIZE - 1); // global table of 4 colours
  const palette = Buffer.from([...seedColour(request.pixelSeed, 0), ...seedColour(request.pixelSeed, 3), ...seedColour(request.pixelSeed, 6), 16, 16, 16]);
  const loop = Buffer.from([0x21, 0xff, 0x0b, ...Buffer.from('NETSCAPE2.0', 'latin1'), 0x03, 0x01, 0x00, 0x00, 0x00]);
  const framesPerSecond = request.framesPerSecond && request.framesPerSecond > 0 ? request.framesPerSecond : 8;
  const delayCentiseconds = Math.max(2, Math.round(100 / framesPerSecond));
  const parts: Buffer[] = [Buffer.from('GIF89a', 'latin1'), screen, palette, loop];
  const band = 3 + ((request.pixelSeed[9] ?? 0) % 6);
  for (let frame = 0; frame < ANIMATION_FRAME_COUNT; frame++) {
    const control = Buffer.from([0x21, 0xf9, 0x04, 0x00, delayCentiseconds & 0xff, delayCentiseconds >> 8, 0x00, 0x00]);
    const descriptor = Buffer.alloc(10);
    descriptor[0] = 0x2c;
    descriptor.writeUInt16LE(side, 5);
    descriptor.writeUInt16LE(side, 7);
    const indices = new Uint8Array(side * side);
    for (let y = 0; y < side; y++) {
      for (let x = 0; x < side; x++) indices[y * side + x] = Math.floor((x + frame * 2) / band + y / band) % 4;
    }
    parts.push(control, descriptor, Buffer.from([MIN_CODE_SIZE]), subBlocks(lzwEncodeWithoutCompression(indices)));
  }
  return Buffer.concat(parts);
}

/** An animated GIF output file (VHS_VideoCombine with format image/gif). Padding follows the trailer, where decoders stop reading. */
export function buildAnimatedGifFile(request: MediaRequest): MediaFile {
  const body = Buffer.concat([gifBody(request), Buffer.from([0x3b])]);
  const paddingBytes = request.targetBytes !== undefined && request.targetBytes > body.length ? request.targetBytes - body.length : 0;
  return {
    contentType: 'image/gif',
    extension: 'gif',
    sizeBytes: body.length + paddingBytes,
    *chunks() {
      yield body;
      if (paddingBytes > 0) yield* new FillSource(request.fileSeed).take(paddingBytes);
    },
  };
}
