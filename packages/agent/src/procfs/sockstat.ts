import { fields } from './fs.ts';
/** /proc/net/sockstat and sockstat6: `TCP: inuse 14 orphan 0 tw 2 alloc 17 mem 3`. */
export interface SockstatProtocol {
  protocol: string;
  fields: [name: string, value: number][];
}

export interface Sockstat {
  /** `sockets: used N`, only in the IPv4 file. */
  used?: number;
  protocols: SockstatProtocol[];
}

export function parseSockstat(text: string): Sockstat {
  const out: Sockstat = { protocols: [] };
  text.split('\n').forEach((line, i) => {
    const colon = line.indexOf(':');
    if (colon <= 0) return;
    const protocol = line.slice(0, colon);
    const parts = fields(line.slice(colon + 1));
    if (parts.length % 2 !== 0) throw new Error(`line ${i + 1}: ${protocol} has an odd number of fields`);
    const pairs: [string, number][] = [];
    for (let j = 0; j < parts.length; j += 2) {
      const value = Number(parts[j + 1]);
      if (!Number.isFinite(value)) throw new Error(`line ${i + 1}: ${protocol} ${parts[j]} is "${parts[j + 1]}", not a number`);
      pairs.push([parts[j] as string, value]);
    }
    if (protocol === 'sockets') {
      const used = pairs.find(([k]) => k === 'used');
      if (used) out.used = used[1];
    } else out.protocols.push({ protocol, fields: pairs });
  });
  return out;
}
