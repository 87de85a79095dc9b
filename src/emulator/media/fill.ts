import { createHash } from 'node:crypto';

/** Size of one generated filler block; big enough for cheap streaming, small enough to stay off the heap's large pages. */
export const FILL_BLOCK_BYTES = 64 * 1024;

/**
 * Deterministic filler bytes for padding output files to a requested size. Every 64 KiB block is a
 * seed-derived base block stamped with its own index, so reordered or repeated blocks change the
 * file's digest, while producing a block costs one memcpy instead of a hash.
 */
export class FillSource {
  private readonly baseBlock: Buffer;
  private nextBlockIndex = 0;

  constructor(seed: Buffer) {
    this.baseBlock = Buffer.allocUnsafe(FILL_BLOCK_BYTES);
    let offset = 0;
    for (let counter = 0; offset < FILL_BLOCK_BYTES; counter++) {
      const digest = createHash('sha256').update(seed).update(String(counter)).digest();
      offset += digest.copy(this.baseBlock, offset);
    }
  }

  /** Yields exactly `bytes` filler bytes, continuing where the previous call stopped. */
  *take(bytes: number): Generator<Buffer> {
    let remaining = bytes;
    while (remaining > 0) {
      const length = Math.min(remaining, FILL_BLOCK_BYTES);
      const block = Buffer.allocUnsafe(length);
      this.baseBlock.copy(block, 0, 0, length);
      if (length >= 8) {
        block.writeUInt32LE(this.nextBlockIndex, 0);
        block.writeUInt32LE((this.nextBlockIndex * 2654435761) >>> 0, 4);
      }
      this.nextBlockIndex++;
      remaining -= length;
      yield block;
    }
  }
}

/** A small deterministic pseudo-random generator (mulberry32) for pixel patterns and timing jitter. */
export function createPrng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
