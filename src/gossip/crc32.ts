// CRC-32 with the IEEE polynomial (the one Go's hash/crc32.ChecksumIEEE,
// zlib and Ethernet use). memberlist puts this checksum in front of UDP
// packets sent to peers that speak protocol version 5, so it must match Go
// bit for bit. Table-driven, one byte at a time: packets are small, and the
// simple loop is fast enough without the larger slicing-by-8 tables.

const polynomialReversed = 0xedb88320;

function makeTable(): Uint32Array {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? polynomialReversed ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}

const table = makeTable();

/** CRC-32/IEEE of bytes[start, end), as an unsigned 32-bit number. */
export function crc32(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let crc = 0xffffffff;
  for (let i = start; i < end; i++) {
    crc = table[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}
