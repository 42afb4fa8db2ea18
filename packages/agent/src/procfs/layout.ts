/**
 * Kernel tables whose layout, the names and the order they come in, stays the same from one read
 * to the next while the kernel runs: /proc/vmstat, /proc/meminfo and /proc/net/snmp6 (a name and a
 * value per line), /proc/net/netstat and /proc/net/snmp (a header line of names over a line of
 * values). A reader remembers the layout of the last read; the next read checks each name in
 * place and takes the numbers it wants without cutting the text into lines and fields, which is
 * most of what parsing these files allocates. A name that differs (a kernel update, a fixture)
 * is read and matched afresh. The pure parsers beside each file give the same answers.
 */

const SPACE = 32;
const TAB = 9;
const NEWLINE = 10;
const ZERO = 48;
const NINE = 57;

/** Doubles are exact integers up to 2^53: 15 digits stay well inside. */
const MAX_EXACT_DIGITS = 15;

/** The number written at text[from, to), blanks around it allowed; NaN when it is not one. */
export function numberIn(text: string, from: number, to: number): number {
  while (from < to && isBlank(text.charCodeAt(from))) from++;
  while (to > from && isBlank(text.charCodeAt(to - 1))) to--;
  if (from === to) return Number.NaN;
  if (to - from <= MAX_EXACT_DIGITS) {
    let n = 0;
    let i = from;
    for (; i < to; i++) {
      const c = text.charCodeAt(i);
      if (c < ZERO || c > NINE) break;
      n = n * 10 + (c - ZERO);
    }
    if (i === to) return n;
  }
  // Signs, fractions, exponents and longer numbers: the language's own conversion.
  return Number(text.slice(from, to));
}

const isBlank = (c: number) => c === SPACE || c === TAB;

/** The end of the line starting at `from`: the index of its newline, or the text's end. */
function lineEnd(text: string, from: number): number {
  const end = text.indexOf('\n', from);
  return end < 0 ? text.length : end;
}

/**
 * "name value" lines: `keyEnd` says where a line's name ends, `choose` what the caller makes of a
 * name (null for a line it does not want), once per name and layout.
 */
export class KeyedLines<T> {
  readonly #keyEnd: (text: string, from: number, to: number) => number;
  readonly #choose: (key: string, text: string, keyEnd: number, to: number) => T | null;
  #keys: string[] = [];
  #chosen: (T | null)[] = [];

  constructor(
    keyEnd: (text: string, from: number, to: number) => number,
    choose: (key: string, text: string, keyEnd: number, to: number) => T | null,
  ) {
    this.#keyEnd = keyEnd;
    this.#choose = choose;
  }

  /** Calls `visit` with what was chosen for each wanted line and where the rest of the line lies. */
  read(text: string, visit: (chosen: T, text: string, from: number, to: number) => void): void {
    const keys = this.#keys;
    const chosen = this.#chosen;
    let line = 0;
    for (let pos = 0; pos < text.length; ) {
      const end = lineEnd(text, pos);
      if (end > pos) {
        const known = keys[line];
        let keyEnd: number;
        if (known !== undefined && text.startsWith(known, pos) && this.#keyEnd(text, pos, end) === pos + known.length) {
          keyEnd = pos + known.length;
        } else {
          keyEnd = this.#keyEnd(text, pos, end);
          const key = text.slice(pos, keyEnd);
          keys[line] = key;
          chosen[line] = this.#choose(key, text, keyEnd, end);
        }
        const c = chosen[line] as T | null;
        if (c !== null) visit(c, text, keyEnd, end);
        line++;
      }
      pos = end + 1;
    }
    keys.length = line;
    chosen.length = line;
  }
}

/** The first blank-separated number at or after `from` (a value followed by a unit: `1234 kB`). */
export function leadingNumber(text: string, from: number, to: number): number {
  while (from < to && isBlank(text.charCodeAt(from))) from++;
  let end = from;
  while (end < to && !isBlank(text.charCodeAt(end))) end++;
  return numberIn(text, from, end);
}

/** Where a name ends: at the first blank (vmstat, snmp6). */
export function endAtBlank(text: string, from: number, to: number): number {
  let i = from;
  while (i < to && !isBlank(text.charCodeAt(i))) i++;
  return i;
}

/** One protocol's wanted columns of a header/value table, named once. */
interface TableLayout<T> {
  header: string;
  /** `TcpExt:`, which the value line must start with too. */
  prefix: string;
  /** Column indexes counted after the protocol, ascending, and what the caller made of each. */
  columns: number[];
  chosen: T[];
}

/**
 * /proc/net/netstat and /proc/net/snmp: pairs of lines, names over values, each starting with the
 * protocol (`TcpExt: SyncookiesSent ...` / `TcpExt: 0 ...`). `choose` names a column once per
 * header line; a read then walks each value line to the wanted columns only.
 */
export class HeaderTables<T> {
  readonly #choose: (protocol: string, field: string) => T | null;
  #layouts: TableLayout<T>[] = [];

  constructor(choose: (protocol: string, field: string) => T | null) {
    this.#choose = choose;
  }

  /** Calls `visit` for each wanted column with a numeric value; throws on a malformed table, as the pure parser does. */
  read(text: string, visit: (chosen: T, value: number) => void): void {
    let pair = 0;
    let pos = 0;
    for (;;) {
      while (pos < text.length && text.charCodeAt(pos) === NEWLINE) pos++;
      if (pos >= text.length) break;
      const headerEnd = lineEnd(text, pos);
      let valuesFrom = headerEnd + 1;
      while (valuesFrom < text.length && text.charCodeAt(valuesFrom) === NEWLINE) valuesFrom++;
      if (valuesFrom >= text.length) throw new Error(`line ${pair * 2 + 1}: a header line without a line of values`);
      const valuesEnd = lineEnd(text, valuesFrom);
      const layout = this.#layout(pair, text, pos, headerEnd);
      this.#values(layout, text, valuesFrom, valuesEnd, visit, pair);
      pair++;
      pos = valuesEnd + 1;
    }
    this.#layouts.length = pair;
  }

  #layout(pair: number, text: string, from: number, to: number): TableLayout<T> {
    const known = this.#layouts[pair];
    if (known !== undefined && to - from === known.header.length && text.startsWith(known.header, from)) return known;
    const header = text.slice(from, to);
    const names = header.trim().split(/\s+/);
    const protocol = (names[0] ?? '').replace(/:$/, '');
    if (!protocol || !names[0]?.endsWith(':')) throw new Error(`line ${pair * 2 + 1}: expected "Protocol: Name ...", got "${header}"`);
    const layout: TableLayout<T> = { header, prefix: names[0] as string, columns: [], chosen: [] };
    for (let i = 1; i < names.length; i++) {
      const c = this.#choose(protocol, names[i] as string);
      if (c === null) continue;
      layout.columns.push(i - 1);
      layout.chosen.push(c);
    }
    this.#layouts[pair] = layout;
    return layout;
  }

  #values(layout: TableLayout<T>, text: string, from: number, to: number, visit: (chosen: T, value: number) => void, pair: number): void {
    const protocolEnd = endAtBlank(text, from, to);
    if (protocolEnd - from !== layout.prefix.length || !text.startsWith(layout.prefix, from)) {
      throw new Error(`line ${pair * 2 + 2}: values for "${text.slice(from, protocolEnd)}" under a "${layout.prefix}" header`);
    }
    let column = -1;
    let next = 0;
    let pos = protocolEnd;
    while (next < layout.columns.length) {
      while (pos < to && isBlank(text.charCodeAt(pos))) pos++;
      if (pos >= to) throw new Error(`line ${pair * 2 + 2}: fewer values than field names`);
      const start = pos;
      while (pos < to && !isBlank(text.charCodeAt(pos))) pos++;
      column++;
      if (column !== layout.columns[next]) continue;
      const value = numberIn(text, start, pos);
      if (Number.isFinite(value)) visit(layout.chosen[next] as T, value);
      next++;
    }
  }
}
