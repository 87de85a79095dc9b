/**
 * A generated output file: its exact size is known up front (for Content-Length and HEAD) and its
 * bytes are produced on demand, block by block, so multi-GiB files never sit in memory.
 */
export interface MediaFile {
  readonly contentType: string;
  readonly extension: string;
  readonly sizeBytes: number;
  /** Yields the file's bytes in order; every call starts again from the first byte. */
  chunks(): Generator<Buffer>;
}

/** What an encoder needs to draw a file that depends on the job. */
export interface MediaRequest {
  /** 32 bytes that decide colours and patterns (derived from the job's deployment, node and overrides). */
  readonly pixelSeed: Buffer;
  /** 32 bytes unique to this file (derived from the request id), used for metadata and padding bytes. */
  readonly fileSeed: Buffer;
  /** Pad the file to this many bytes when it is larger than the file's natural size. */
  readonly targetBytes?: number | undefined;
  /** Frames per second for animated formats. */
  readonly framesPerSecond?: number | undefined;
  /** Text metadata embedded where the format allows it (PNG tEXt), like ComfyUI's "prompt". */
  readonly textMetadata?: Readonly<Record<string, string>> | undefined;
}

/** Width and height in pixels of every generated image or video frame (a multiple of 16 for H.264 macroblocks). */
export const FRAME_SIDE_PX = 64;

/** Number of frames in generated animations and videos. */
export const ANIMATION_FRAME_COUNT = 8;

/** Writes an unsigned 24-bit little-endian integer (WEBP headers). */
export function writeUInt24LE(target: Buffer, value: number, offset: number): void {
  target[offset] = value & 0xff;
  target[offset + 1] = (value >>> 8) & 0xff;
  target[offset + 2] = (value >>> 16) & 0xff;
}

/** Turns the first bytes of a seed into an RGB colour, kept away from pure black so patterns stay visible. */
export function seedColour(seed: Buffer, offset: number): [number, number, number] {
  return [32 + ((seed[offset % seed.length] ?? 0) % 200), 32 + ((seed[(offset + 1) % seed.length] ?? 0) % 200), 32 + ((seed[(offset + 2) % seed.length] ?? 0) % 200)];
}
