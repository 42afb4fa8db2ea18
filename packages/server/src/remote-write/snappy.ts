/**
 * Snappy's block format (what Prometheus remote_write sends with Content-Encoding: snappy): a varint
 * of the uncompressed length, then literals and back-references. Only decoding is needed here.
 */

/** A body that is not valid snappy, or would decode past the allowed size; `message` says where. */
export class SnappyError extends Error {}

/** Decodes one snappy block, refusing one that declares more than `maxBytes` (a decompression bomb). */
export function snappyDecode(src: Uint8Array, maxBytes: number): Uint8Array {
  let pos = 0;
  let length = 0;
  for (let shift = 0; ; shift += 7) {
    if (pos >= src.length) throw new SnappyError('snappy: truncated length preamble');
    if (shift > 28) throw new SnappyError('snappy: length preamble longer than 5 bytes');
    const b = src[pos++] as number;
    length += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) break;
  }
  if (length > maxBytes) throw new SnappyError(`snappy: declares ${length} bytes uncompressed; at most ${maxBytes} are accepted`);
  const out = new Uint8Array(length);
  let o = 0;
  while (pos < src.length) {
    const tag = src[pos++] as number;
    const kind = tag & 3;
    if (kind === 0) {
      let n = tag >>> 2;
      if (n >= 60) {
        const bytes = n - 59;
        if (pos + bytes > src.length) throw new SnappyError(`snappy: truncated literal length at byte ${pos}`);
        n = 0;
        for (let i = 0; i < bytes; i++) n += (src[pos + i] as number) * 2 ** (8 * i);
        pos += bytes;
      }
      n += 1;
      if (pos + n > src.length) throw new SnappyError(`snappy: literal of ${n} bytes runs past the end of the input at byte ${pos}`);
      if (o + n > length) throw new SnappyError(`snappy: output would exceed the declared ${length} bytes`);
      // Short literals (most of them) byte by byte: a subarray view each cost more than the copy.
      if (n < 32) for (let i = 0; i < n; i++) out[o + i] = src[pos + i] as number;
      else out.set(src.subarray(pos, pos + n), o);
      pos += n;
      o += n;
      continue;
    }
    let n: number;
    let offset: number;
    if (kind === 1) {
      if (pos + 1 > src.length) throw new SnappyError(`snappy: truncated copy at byte ${pos}`);
      n = 4 + ((tag >>> 2) & 7);
      offset = ((tag >>> 5) << 8) | (src[pos] as number);
      pos += 1;
    } else if (kind === 2) {
      if (pos + 2 > src.length) throw new SnappyError(`snappy: truncated copy at byte ${pos}`);
      n = (tag >>> 2) + 1;
      offset = (src[pos] as number) | ((src[pos + 1] as number) << 8);
      pos += 2;
    } else {
      if (pos + 4 > src.length) throw new SnappyError(`snappy: truncated copy at byte ${pos}`);
      n = (tag >>> 2) + 1;
      offset =
        ((src[pos] as number) | ((src[pos + 1] as number) << 8) | ((src[pos + 2] as number) << 16)) + (src[pos + 3] as number) * 2 ** 24;
      pos += 4;
    }
    if (offset === 0 || offset > o)
      throw new SnappyError(`snappy: copy offset ${offset} points before the start of the output at byte ${pos}`);
    if (o + n > length) throw new SnappyError(`snappy: output would exceed the declared ${length} bytes`);
    // Copies may overlap their own output (a run), so bytes go one at a time.
    for (let i = 0; i < n; i++, o++) out[o] = out[o - offset] as number;
  }
  if (o !== length) throw new SnappyError(`snappy: decoded ${o} bytes, but the preamble declares ${length}`);
  return out;
}
