import { FillSource } from './fill.js';
import { buildPcmIdrSlice, buildPictureParameterSet, buildSequenceParameterSet, H264_PROFILE, type YuvPicture } from './h264.js';
import { ANIMATION_FRAME_COUNT, FRAME_SIDE_PX, seedColour, type MediaFile, type MediaRequest } from './media-file.js';

const MOVIE_TIMESCALE = 1000;
const UNITY_MATRIX = [0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000];

function box(type: string, ...payload: Buffer[]): Buffer {
  const body = Buffer.concat(payload);
  const header = Buffer.alloc(8);
  header.writeUInt32BE(8 + body.length, 0);
  header.write(type, 4, 'latin1');
  return Buffer.concat([header, body]);
}

function fullBox(type: string, version: number, flags: number, ...payload: Buffer[]): Buffer {
  const versionAndFlags = Buffer.alloc(4);
  versionAndFlags.writeUInt32BE(((version & 0xff) << 24) | (flags & 0xffffff), 0);
  return box(type, versionAndFlags, ...payload);
}

function u32(...values: number[]): Buffer {
  const buffer = Buffer.alloc(values.length * 4);
  values.forEach((value, index) => buffer.writeUInt32BE(value >>> 0, index * 4));
  return buffer;
}

function u16(...values: number[]): Buffer {
  const buffer = Buffer.alloc(values.length * 2);
  values.forEach((value, index) => buffer.writeUInt16BE(value & 0xffff, index * 2));
  return buffer;
}

function matrix(): Buffer {
  return u32(...UNITY_MATRIX);
}

/** A moving two-colour bar drawn straight into Y'CbCr, clamped to video range so samples are never zero. */
function drawYuvFrame(seed: Buffer, frameIndex: number): YuvPicture {
  const side = FRAME_SIDE_PX;
  const toYuv = ([r, g, b]: [number, number, number]): [number, number, number] => [
    Math.round(16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255),
    Math.round(128 + (-37.797 * r - 74.203 * g + 112 * b) / 255),
    Math.round(128 + (112 * r - 93.786 * g - 18.214 * b) / 255),
  ];
  const background = toYuv(seedColour(seed, 0));
  const bar = toYuv(seedColour(seed, 3));
  const barWidth = 8 + ((seed[7] ?? 0) % 16);
  const barStart = (frameIndex * 6) % side;
  const luma = new Uint8Array(side * side);
  const chromaBlue = new Uint8Array((side / 2) * (side / 2));
  const chromaRed = new Uint8Array((side / 2) * (side / 2));
  const inBar = (x: number): boolean => (x - barStart + side) % side < barWidth;
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) luma[y * side + x] = (inBar(x) ? bar : background)[0] + ((x ^ y) & 3);
  }
  for (let y = 0; y < side / 2; y++) {
    for (let x = 0; x < side / 2; x++) {
      const colour = inBar(x * 2) ? bar : background;
      chromaBlue[y * (side / 2) + x] = colour[1];
      chromaRed[y * (side / 2) + x] = colour[2];
    }
  }
  return { width: side, height: side, luma, chromaBlue, chromaRed };
}

function avcSampleEntry(width: number, height: number, sps: Buffer, pps: Buffer): Buffer {
  const avcC = box(
    'avcC',
    Buffer.from([1, H264_PROFILE.profileIdc, H264_PROFILE.constraintFlags, H264_PROFILE.levelIdc, 0xff, 0xe1]),
    u16(sps.length),
    sps,
    Buffer.from([1]),
    u16(pps.length),
    pps,
  );
  const compressorName = Buffer.alloc(32);
  return box(
    'avc1',
    Buffer.alloc(6), // reserved
    u16(1), // data_reference_index
    Buffer.alloc(16), // pre_defined and reserved
    u16(width, height),
    u32(0x00480000, 0x00480000, 0), // 72 dpi, reserved
    u16(1), // frame_count
    compressorName,
    u16(0x0018, 0xffff), // depth, pre_defined = -1
    avcC,
  );
}

/**
 * The boxes of a one-track H.264 MP4 with the movie header first ("fast start"): ftyp, moov and
 * the mdat header. Samples are the I_PCM frames from `h264.ts`, so the file is a real, decodable video.
 */
function mp4Layout(request: MediaRequest, extraMdatBytes: number, forceLargeMdat: boolean): { head: Buffer; samples: Buffer[] } {
  const side = FRAME_SIDE_PX;
  const framesPerSecond = request.framesPerSecond && request.framesPerSecond > 0 ? request.framesPerSecond : 8;
  const mediaTimescale = Math.max(1, Math.round(framesPerSecond * 1000));
  const sampleDelta = 1000;
  const sps = buildSequenceParameterSet(side, side);
  const pps = buildPictureParameterSet();
  const samples: Buffer[] = [];
  for (let frame = 0; frame < ANIMATION_FRAME_COUNT; frame++) {
    const slice = buildPcmIdrSlice(drawYuvFrame(request.pixelSeed, frame), frame % 2);
    samples.push(Buffer.concat([u32(slice.length), slice]));
  }
  const durationMs = Math.round((ANIMATION_FRAME_COUNT * 1000) / framesPerSecond);
  const mediaDuration = ANIMATION_FRAME_COUNT * sampleDelta;
  const ftyp = box('ftyp', Buffer.from('isom', 'latin1'), u32(0x200), Buffer.from('isomiso2avc1mp41', 'latin1'));
  const buildMoov = (firstSampleOffset: number): Buffer => {
    const stbl = box(
      'stbl',
      fullBox('stsd', 0, 0, u32(1), avcSampleEntry(side, side, sps, pps)),
      fullBox('stts', 0, 0, u32(1, ANIMATION_FRAME_COUNT, sampleDelta)),
      fullBox('stsc', 0, 0, u32(1, 1, ANIMATION_FRAME_COUNT, 1)),
      fullBox('stsz', 0, 0, u32(0, ANIMATION_FRAME_COUNT, ...samples.map((sample) => sample.length))),
      fullBox('stco', 0, 0, u32(1, firstSampleOffset)),
    );
    const minf = box(
      'minf',
      fullBox('vmhd', 0, 1, u16(0, 0, 0, 0)),
      box('dinf', fullBox('dref', 0, 0, u32(1), fullBox('url ', 0, 1))),
      stbl,
    );
    const mdia = box(
      'mdia',
      fullBox('mdhd', 0, 0, u32(0, 0, mediaTimescale, mediaDuration), u16(0x55c4, 0)), // language "und"
      fullBox('hdlr', 0, 0, u32(0), Buffer.from('vide', 'latin1'), u32(0, 0, 0), Buffer.from('VideoHandler\0', 'latin1')),
      minf,
    );
    const tkhd = fullBox('tkhd', 0, 0x000003, u32(0, 0, 1, 0, durationMs, 0, 0), u16(0, 0, 0, 0), matrix(), u32(side << 16, side << 16));
    const mvhd = fullBox('mvhd', 0, 0, u32(0, 0, MOVIE_TIMESCALE, durationMs, 0x00010000), u16(0x0100, 0), u32(0, 0), matrix(), Buffer.alloc(24), u32(2));
    return box('moov', mvhd, box('trak', tkhd, mdia));
  };
  const sampleBytes = samples.reduce((sum, sample) => sum + sample.length, 0);
  const mdatPayloadBytes = sampleBytes + extraMdatBytes;
  const largeMdat = forceLargeMdat || 8 + mdatPayloadBytes > 0xffffffff;
  const mdatHeader = Buffer.alloc(largeMdat ? 16 : 8);
  if (largeMdat) {
    mdatHeader.writeUInt32BE(1, 0);
    mdatHeader.write('mdat', 4, 'latin1');
    mdatHeader.writeBigUInt64BE(BigInt(16 + mdatPayloadBytes), 8);
  } else {
    mdatHeader.writeUInt32BE(8 + mdatPayloadBytes, 0);
    mdatHeader.write('mdat', 4, 'latin1');
  }
  // moov's size does not depend on the offset value, so one pass with a placeholder measures it
  const moovBytes = buildMoov(0).length;
  const moov = buildMoov(ftyp.length + moovBytes + mdatHeader.length);
  return { head: Buffer.concat([ftyp, moov, mdatHeader]), samples };
}

/**
 * An MP4 (H.264) output file. Padding extends the mdat box after the last sample: bytes no sample
 * table points at, which players skip, so the file stays a valid MP4 at any size.
 */
export function buildMp4File(request: MediaRequest): MediaFile {
  const natural = mp4Layout(request, 0, false);
  const naturalBytes = natural.head.length + natural.samples.reduce((sum, sample) => sum + sample.length, 0);
  let layout = natural;
  let extraBytes = 0;
  if (request.targetBytes !== undefined && request.targetBytes > naturalBytes) {
    extraBytes = request.targetBytes - naturalBytes;
    layout = mp4Layout(request, extraBytes, false);
    if (layout.head.length !== natural.head.length) {
      // the mdat needed a 64-bit size: its header grew by 8 bytes, so pad 8 bytes less
      extraBytes -= layout.head.length - natural.head.length;
      layout = mp4Layout(request, extraBytes, true);
    }
  }
  const { head, samples } = layout;
  const sizeBytes = head.length + samples.reduce((sum, sample) => sum + sample.length, 0) + extraBytes;
  return {
    contentType: 'video/mp4',
    extension: 'mp4',
    sizeBytes,
    *chunks() {
      yield head;
      yield* samples;
      if (extraBytes > 0) yield* new FillSource(request.fileSeed).take(extraBytes);
    },
  };
}
