import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import zlib from 'node:zlib';
import { crc32Portable } from '../../src/emulator/media/crc32.js';
import { buildMediaFile, type MediaKind } from '../../src/emulator/media/index.js';
import { PNG_SIGNATURE } from '../../src/emulator/media/png.js';

const seed = (text: string): Buffer => createHash('sha256').update(text).digest();
const bytesOf = (kind: MediaKind, pixelSeed: string, targetBytes?: number): Buffer =>
  Buffer.concat([...buildMediaFile(kind, { pixelSeed: seed(pixelSeed), fileSeed: seed(`file-${pixelSeed}`), targetBytes, framesPerSecond: 8, textMetadata: { prompt: '{"6":{}}' } }).chunks()]);

/** Walks PNG chunks, checking each CRC with an independent CRC-32 implementation. */
function readPngChunks(png: Buffer): { type: string; data: Buffer }[] {
  assert.deepEqual(png.subarray(0, 8), PNG_SIGNATURE, 'PNG signature');
  const chunks: { type: string; data: Buffer }[] = [];
  let offset = 8;
  while (offset < png.length) {
    const length = png.readUInt32BE(offset);
    const type = png.toString('latin1', offset + 4, offset + 8);
    const data = png.subarray(offset + 8, offset + 8 + length);
    const crc = png.readUInt32BE(offset + 8 + length);
    assert.equal(crc, crc32Portable(png.subarray(offset + 4, offset + 8 + length)), `CRC of ${type} chunk`);
    chunks.push({ type, data });
    offset += 12 + length;
  }
  assert.equal(offset, png.length, 'chunks cover the whole file');
  return chunks;
}

/** Top-level ISO-BMFF boxes: type and size, checking the sizes add up to the file. */
function readBoxes(file: Buffer, start = 0, end = file.length): { type: string; start: number; size: number }[] {
  const boxes: { type: string; start: number; size: number }[] = [];
  let offset = start;
  while (offset < end) {
    let size = file.readUInt32BE(offset);
    const type = file.toString('latin1', offset + 4, offset + 8);
    if (size === 1) size = Number(file.readBigUInt64BE(offset + 8));
    assert.ok(size >= 8, `box ${type} has a sane size`);
    boxes.push({ type, start: offset, size });
    offset += size;
  }
  assert.equal(offset, end, 'boxes cover the whole range');
  return boxes;
}

describe('PNG encoder', () => {
  it('writes a valid PNG: signature, IHDR first, IDAT that inflates to the declared size, IEND last, correct CRCs', () => {
    const png = bytesOf('png', 'a');
    const chunks = readPngChunks(png);
    assert.equal(chunks[0]!.type, 'IHDR');
    assert.equal(chunks.at(-1)!.type, 'IEND');
    const header = chunks[0]!.data;
    const width = header.readUInt32BE(0);
    const height = header.readUInt32BE(4);
    assert.deepEqual([width, height, header[8], header[9]], [64, 64, 8, 2]);
    const raw = zlib.inflateSync(Buffer.concat(chunks.filter((chunk) => chunk.type === 'IDAT').map((chunk) => chunk.data)));
    assert.equal(raw.length, height * (1 + width * 3));
    const text = chunks.find((chunk) => chunk.type === 'tEXt')!.data.toString('latin1');
    assert.ok(text.startsWith('prompt\0'), 'ComfyUI-style prompt metadata');
  });

  it('draws different pixels for different seeds and the same pixels for the same seed', () => {
    const pixels = (png: Buffer): Buffer => zlib.inflateSync(readPngChunks(png).find((chunk) => chunk.type === 'IDAT')!.data);
    assert.notDeepEqual(pixels(bytesOf('png', 'seed-1')), pixels(bytesOf('png', 'seed-2')));
    assert.deepEqual(bytesOf('png', 'seed-1'), bytesOf('png', 'seed-1'));
  });

  it('pads to an exact size with valid ancillary chunks and deterministic bytes', () => {
    const targetBytes = 300_001;
    const padded = bytesOf('png', 'a', targetBytes);
    assert.equal(padded.length, targetBytes);
    const types = readPngChunks(padded).map((chunk) => chunk.type);
    assert.equal(types.at(-1), 'IEND');
    assert.ok(types.includes('emPd'));
    assert.deepEqual(padded, bytesOf('png', 'a', targetBytes));
  });
});

describe('MP4 encoder', () => {
  it('starts with an ftyp box and holds ftyp, moov and mdat whose sizes add up to the file', () => {
    const mp4 = bytesOf('mp4', 'a');
    assert.equal(mp4.toString('latin1', 4, 8), 'ftyp');
    assert.equal(mp4.toString('latin1', 8, 12), 'isom');
    assert.deepEqual(readBoxes(mp4).map((box) => box.type), ['ftyp', 'moov', 'mdat']);
    const moov = readBoxes(mp4).find((box) => box.type === 'moov')!;
    assert.deepEqual(readBoxes(mp4, moov.start + 8, moov.start + moov.size).map((box) => box.type), ['mvhd', 'trak']);
    assert.ok(mp4.includes(Buffer.from('avcC')), 'carries an H.264 decoder configuration');
  });

  it('points the chunk offset at the first sample, whose NAL unit is an IDR slice', () => {
    const mp4 = bytesOf('mp4', 'a');
    const stco = mp4.indexOf(Buffer.from('stco'));
    const firstSampleOffset = mp4.readUInt32BE(stco + 12);
    const nalLength = mp4.readUInt32BE(firstSampleOffset);
    assert.ok(nalLength > 0 && firstSampleOffset + 4 + nalLength <= mp4.length);
    assert.equal(mp4[firstSampleOffset + 4]! & 0x1f, 5, 'NAL unit type 5 (IDR)');
  });

  it('pads inside mdat to an exact size and differs between seeds', () => {
    const padded = bytesOf('mp4', 'a', 123_457);
    assert.equal(padded.length, 123_457);
    assert.deepEqual(readBoxes(padded).map((box) => box.type), ['ftyp', 'moov', 'mdat']);
    assert.notDeepEqual(bytesOf('mp4', 'a'), bytesOf('mp4', 'b'));
  });
});

describe('animated WEBP and GIF encoders', () => {
  it('writes a RIFF WEBP with VP8X (animation flag), ANIM and one ANMF per frame', () => {
    const webp = bytesOf('webp', 'a');
    assert.equal(webp.toString('latin1', 0, 4), 'RIFF');
    assert.equal(webp.readUInt32LE(4), webp.length - 8);
    assert.equal(webp.toString('latin1', 8, 12), 'WEBP');
    const chunkTypes: string[] = [];
    for (let offset = 12; offset < webp.length; ) {
      const size = webp.readUInt32LE(offset + 4);
      chunkTypes.push(webp.toString('latin1', offset, offset + 4));
      offset += 8 + size + (size & 1);
    }
    assert.equal(chunkTypes[0], 'VP8X');
    assert.equal(webp[20]! & 0x02, 0x02, 'animation flag');
    assert.equal(chunkTypes[1], 'ANIM');
    assert.equal(chunkTypes.filter((type) => type === 'ANMF').length, 8);
    const padded = bytesOf('webp', 'a', 100_000);
    assert.equal(padded.length, 100_000);
    assert.equal(padded.readUInt32LE(4), padded.length - 8);
  });

  it('writes a GIF89a with a looping animation', () => {
    const gif = bytesOf('gif', 'a');
    assert.equal(gif.toString('latin1', 0, 6), 'GIF89a');
    assert.equal(gif.readUInt16LE(6), 64);
    assert.ok(gif.includes(Buffer.from('NETSCAPE2.0')));
    assert.equal(gif.at(-1), 0x3b, 'ends with the trailer');
  });
});
