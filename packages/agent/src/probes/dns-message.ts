import type { DNS_TYPES } from '@falconet/protocol/probes';

/**
 * DNS messages (RFC 1035) for the dns probe: one query out, the answer's header and records in.
 * Answers are given as text the way node:dns's resolve* gives them (names without the final
 * dot; MX, SRV, SOA, CAA, NAPTR and TXT records as the JSON of the objects its resolve(name, type)
 * gives, key order and `type` included), so a probe's
 * `answers_contain` reads the same as when it asked through Node's resolver.
 */

export type DnsType = (typeof DNS_TYPES)[number];

const TYPE_CODES: Record<DnsType, number> = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  NAPTR: 35,
  CAA: 257,
};

export const RCODE_NAMES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'] as const;

/** A query with recursion desired (blackbox's default), class IN. */
export function encodeQuery(id: number, name: string, type: DnsType): Buffer {
  const labels = name.replace(/\.$/, '').split('.').filter(Boolean);
  const parts: Buffer[] = [Buffer.from([id >> 8, id & 0xff, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0])];
  for (const l of labels) {
    const b = Buffer.from(l, 'utf8');
    if (b.length > 63) throw new Error(`query_name: label "${l}" is longer than 63 bytes`);
    parts.push(Buffer.from([b.length]), b);
  }
  const code = TYPE_CODES[type];
  parts.push(Buffer.from([0, code >> 8, code & 0xff, 0, 1]));
  return Buffer.concat(parts);
}

export interface DnsAnswer {
  id: number;
  /** The answer code's name, or `RCODE<n>` for one outside the six common ones. */
  rcode: string;
  answers: string[];
  answerCount: number;
  authorityCount: number;
  additionalCount: number;
}

/** Reads a response; throws on a message too short or malformed to read. */
export function decodeResponse(m: Buffer): DnsAnswer {
  if (m.length < 12) throw new Error('DNS answer shorter than its header');
  const id = m.readUInt16BE(0);
  const code = m.readUInt16BE(2) & 0x0f;
  const qd = m.readUInt16BE(4);
  const an = m.readUInt16BE(6);
  let at = 12;
  for (let i = 0; i < qd; i++) at = readName(m, at).next + 4;
  const answers: string[] = [];
  for (let i = 0; i < an; i++) {
    const name = readName(m, at);
    at = name.next;
    if (at + 10 > m.length) throw new Error('DNS answer cut inside a record');
    const type = m.readUInt16BE(at);
    const len = m.readUInt16BE(at + 8);
    const start = at + 10;
    if (start + len > m.length) throw new Error('DNS answer cut inside a record');
    const text = recordText(m, type, start, len);
    if (text !== undefined) answers.push(text);
    at = start + len;
  }
  return {
    id,
    rcode: RCODE_NAMES[code] ?? `RCODE${code}`,
    answers,
    answerCount: an,
    authorityCount: m.readUInt16BE(8),
    additionalCount: m.readUInt16BE(10),
  };
}

function recordText(m: Buffer, type: number, start: number, len: number): string | undefined {
  const name = (at: number) => readName(m, at);
  switch (type) {
    case 1:
      return [...m.subarray(start, start + 4)].join('.');
    case 28:
      return ipv6Text(m.subarray(start, start + 16));
    case 2:
    case 5:
    case 12:
      return name(start).name;
    case 15:
      return JSON.stringify({ exchange: name(start + 2).name, priority: m.readUInt16BE(start), type: 'MX' });
    case 16: {
      const chunks: string[] = [];
      for (let at = start; at < start + len; at += 1 + (m[at] as number))
        chunks.push(m.toString('utf8', at + 1, at + 1 + (m[at] as number)));
      return JSON.stringify(chunks);
    }
    case 33:
      return JSON.stringify({
        name: name(start + 6).name,
        port: m.readUInt16BE(start + 4),
        priority: m.readUInt16BE(start),
        weight: m.readUInt16BE(start + 2),
        type: 'SRV',
      });
    case 6: {
      const ns = name(start);
      const mbox = name(ns.next);
      const n = (k: number) => m.readUInt32BE(mbox.next + 4 * k);
      return JSON.stringify({
        nsname: ns.name,
        hostmaster: mbox.name,
        serial: n(0),
        refresh: n(1),
        retry: n(2),
        expire: n(3),
        minttl: n(4),
      });
    }
    case 257: {
      const tagLen = m[start + 1] as number;
      const tag = m.toString('utf8', start + 2, start + 2 + tagLen);
      return JSON.stringify({ critical: m[start] as number, type: 'CAA', [tag]: m.toString('utf8', start + 2 + tagLen, start + len) });
    }
    case 35: {
      let at = start + 4;
      const str = () => {
        const s = m.toString('utf8', at + 1, at + 1 + (m[at] as number));
        at += 1 + (m[at] as number);
        return s;
      };
      const flags = str();
      const service = str();
      const regexp = str();
      return JSON.stringify({
        flags,
        service,
        regexp,
        replacement: name(at).name,
        order: m.readUInt16BE(start),
        preference: m.readUInt16BE(start + 2),
      });
    }
    default:
      return undefined;
  }
}

/** A name at `at`, following compression pointers; `next` is where the record goes on. */
function readName(m: Buffer, at: number): { name: string; next: number } {
  const labels: string[] = [];
  let next = -1;
  for (let hops = 0; hops < 128; hops++) {
    if (at >= m.length) throw new Error('DNS answer cut inside a name');
    const len = m[at] as number;
    if (len === 0) return { name: labels.join('.'), next: next < 0 ? at + 1 : next };
    if ((len & 0xc0) === 0xc0) {
      if (next < 0) next = at + 2;
      at = ((len & 0x3f) << 8) | (m[at + 1] as number);
      continue;
    }
    labels.push(m.toString('utf8', at + 1, at + 1 + len));
    at += 1 + len;
  }
  throw new Error('DNS answer with a name that loops');
}

/** RFC 5952 text: lower case, no leading zeros, the longest run of two or more zero groups as `::`. */
function ipv6Text(b: Buffer): string {
  const groups = Array.from({ length: 8 }, (_, i) => b.readUInt16BE(i * 2));
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}
