/**
 * Bit streams for the chunk codecs. Writes and reads at most 24 bits at a time so the
 * accumulator stays inside a 32-bit integer; wider fields go through writeWide/readWide.
 */
export class BitWriter {
  #buf: Uint8Array;
  #pos = 0;
  #acc = 0;
  #nbits = 0;

  constructor(capacity = 256) {
    this.#buf = new Uint8Array(capacity);
  }

  /** Starts over, keeping the buffer (the previous `finish()` result is overwritten). */
  reset(): void {
    this.#pos = 0;
    this.#acc = 0;
    this.#nbits = 0;
  }

  /** Writes the low `n` bits of `value` (0 <= n <= 24, value >= 0). */
  write(value: number, n: number): void {
    if (n === 0) return;
    this.#acc = (this.#acc << n) | value;
    this.#nbits += n;
    if (this.#nbits >= 8) {
      if (this.#pos + 4 > this.#buf.length) this.#grow();
      while (this.#nbits >= 8) {
        this.#nbits -= 8;
        this.#buf[this.#pos++] = (this.#acc >>> this.#nbits) & 0xff;
      }
      this.#acc &= (1 << this.#nbits) - 1;
    }
  }

  bit(b: number): void {
    this.write(b, 1);
  }

  /** Writes an unsigned integer of up to 53 bits. */
  writeWide(value: number, n: number): void {
    if (n <= 24) {
      this.write(value, n);
      return;
    }
    const high = Math.floor(value / 2 ** 24);
    this.writeWide(high, n - 24);
    this.write(value - high * 2 ** 24, 24);
  }

  /** Writes the low `n` bits (1..64) of the 64-bit word hi:lo. */
  write64(hi: number, lo: number, n: number): void {
    if (n > 32) {
      const h = n - 32;
      const hv = h === 32 ? hi >>> 0 : (hi & ((1 << h) - 1)) >>> 0;
      if (h > 16) {
        this.write(hv >>> 16, h - 16);
        this.write(hv & 0xffff, 16);
      } else this.write(hv, h);
      this.write(lo >>> 16, 16);
      this.write(lo & 0xffff, 16);
      return;
    }
    const lv = n === 32 ? lo >>> 0 : (lo & ((1 << n) - 1)) >>> 0;
    if (n > 16) {
      this.write(lv >>> 16, n - 16);
      this.write(lv & 0xffff, 16);
    } else this.write(lv, n);
  }

  #grow(): void {
    const next = new Uint8Array(this.#buf.length * 2);
    next.set(this.#buf);
    this.#buf = next;
  }

  /** The bytes written, the last one padded with zero bits. */
  finish(): Uint8Array {
    if (this.#nbits > 0) this.write(0, 8 - this.#nbits);
    return this.#buf.subarray(0, this.#pos);
  }
}

export class BitReader {
  readonly #buf: Uint8Array;
  /** The next bit to read, counted from the buffer's first byte; reading stops at #endBit. */
  #bit: number;
  readonly #endBit: number;

  constructor(buf: Uint8Array, start = 0, end = buf.length) {
    this.#buf = buf;
    this.#bit = start * 8;
    this.#endBit = end * 8;
  }

  /**
   * Reads `n` bits (0..24) as an unsigned integer: one 32-bit window of the bytes holding them (at
   * most 7 + 24 bits from a byte boundary), no loop, which decoding a chunk calls per value.
   */
  read(n: number): number {
    if (n === 0) return 0;
    const at = this.#bit;
    if (at + n > this.#endBit) throw new RangeError('chunk ends before its data');
    const b = this.#buf;
    const i = at >>> 3;
    // Bytes past the buffer read as undefined, which the shifts take as 0; they are never among the n bits.
    const w = ((b[i] as number) << 24) | ((b[i + 1] as number) << 16) | ((b[i + 2] as number) << 8) | (b[i + 3] as number);
    this.#bit = at + n;
    return (w << (at & 7)) >>> (32 - n);
  }

  bit(): number {
    const at = this.#bit;
    if (at >= this.#endBit) throw new RangeError('chunk ends before its data');
    this.#bit = at + 1;
    return ((this.#buf[at >>> 3] as number) >>> (7 - (at & 7))) & 1;
  }

  readWide(n: number): number {
    if (n <= 24) return this.read(n);
    const high = this.readWide(n - 24);
    return high * 2 ** 24 + this.read(24);
  }

  /**
   * Reads `n` bits (1..32) as an unsigned integer from one 40-bit window of the bytes holding them
   * (at most 7 + 32 bits from a byte boundary): the XOR decoder's per-value read, in one step.
   */
  read32(n: number): number {
    const at = this.#bit;
    if (at + n > this.#endBit) throw new RangeError('chunk ends before its data');
    const b = this.#buf;
    const i = at >>> 3;
    const off = at & 7;
    // As in read(): bytes past the buffer read as undefined, taken as 0, and never among the n bits.
    const w = ((b[i] as number) << 24) | ((b[i + 1] as number) << 16) | ((b[i + 2] as number) << 8) | (b[i + 3] as number);
    const top = off === 0 ? w : (w << off) | ((b[i + 4] as number) >>> (8 - off));
    this.#bit = at + n;
    return top >>> (32 - n);
  }

  /** Reads `n` bits (1..64) into a 64-bit word returned through `out` as [hi, lo]. */
  read64(n: number, out: Uint32Array): void {
    if (n > 32) {
      out[0] = this.read32(n - 32);
      out[1] = this.read32(32);
      return;
    }
    out[0] = 0;
    out[1] = this.read32(n);
  }
}
