import zlib from 'node:zlib';

const CRC_TABLE = buildCrcTable();

function buildCrcTable(): Uint32Array {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}

/** CRC-32 (ISO-HDLC, as used by PNG and zlib) in plain TypeScript; `previous` continues a running CRC. */
export function crc32Portable(data: Uint8Array, previous = 0): number {
  let c = (previous ^ 0xffffffff) >>> 0;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

type NativeCrc32 = (data: Uint8Array, value?: number) => number;
// zlib.crc32 exists from Node 20.15; older 20.x releases fall back to the table version, which is
// slower for multi-GiB padded files but gives the same numbers.
const nativeCrc32 = (zlib as unknown as { crc32?: NativeCrc32 }).crc32;

/** CRC-32 of `data`, continuing from `previous`; uses zlib's native implementation when available. */
export const crc32: (data: Uint8Array, previous?: number) => number = nativeCrc32
  ? (data, previous = 0) => nativeCrc32(data, previous)
  : crc32Portable;
