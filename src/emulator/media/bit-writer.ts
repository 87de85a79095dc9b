/** Collects bits into bytes, either least-significant-bit first (VP8L, GIF LZW) or most-significant first (H.264). */
export class BitWriter {
  private readonly bytes: number[] = [];
  private current = 0;
  private filledBits = 0;

  constructor(private readonly order: 'lsb-first' | 'msb-first') {}

  /** Appends the low `bitCount` bits of `value` (at most 24 at a time). */
  write(value: number, bitCount: number): void {
    for (let i = 0; i < bitCount; i++) {
      const bit = this.order === 'lsb-first' ? (value >>> i) & 1 : (value >>> (bitCount - 1 - i)) & 1;
      if (this.order === 'lsb-first') this.current |= bit << this.filledBits;
      else this.current |= bit << (7 - this.filledBits);
      this.filledBits++;
      if (this.filledBits === 8) this.flushByte();
    }
  }

  /** Exp-Golomb unsigned code, ue(v) in the H.264 specification. */
  writeUnsignedExpGolomb(value: number): void {
    const codeNum = value + 1;
    const length = Math.floor(Math.log2(codeNum));
    this.write(0, length);
    this.write(codeNum, length + 1);
  }

  /** Exp-Golomb signed code, se(v) in the H.264 specification. */
  writeSignedExpGolomb(value: number): void {
    this.writeUnsignedExpGolomb(value > 0 ? 2 * value - 1 : -2 * value);
  }

  /** Whole bytes appended so far are only ever added at byte alignment. */
  writeAlignedBytes(data: Uint8Array): void {
    if (this.filledBits !== 0) throw new Error('writeAlignedBytes needs byte alignment');
    for (const byte of data) this.bytes.push(byte);
  }

  get isByteAligned(): boolean {
    return this.filledBits === 0;
  }

  /** Pads the last byte with zero bits and returns everything written. */
  toBuffer(): Buffer {
    if (this.filledBits > 0) this.flushByte();
    return Buffer.from(this.bytes);
  }

  private flushByte(): void {
    this.bytes.push(this.current);
    this.current = 0;
    this.filledBits = 0;
  }
}
