import { fields } from './fs.ts';
/** One counter of /proc/net/{netstat,snmp,snmp6}: `TcpExt` + `ListenDrops`. */
export interface NetstatField {
  protocol: string;
  name: string;
  value: number;
}

/**
 * /proc/net/netstat and /proc/net/snmp: lines in pairs, a header naming the fields and a line of
 * values, both starting with the protocol (`TcpExt: SyncookiesSent ...` / `TcpExt: 0 ...`).
 */
/** One protocol of /proc/net/{netstat,snmp}: its header line as the kernel wrote it, and its values. */
export interface NetstatTable {
  protocol: string;
  /** The raw header line; identical from one read to the next while the kernel runs. */
  headerLine: string;
  names: string[];
  values: string[];
}

export function parseNetstatTables(text: string): NetstatTable[] {
  const out: NetstatTable[] = [];
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  if (lines.length % 2 !== 0) throw new Error(`${lines.length} non-empty lines; expected header and value lines in pairs`);
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const headerLine = lines[i] as string;
    const header = fields(headerLine);
    const values = fields(lines[i + 1] as string);
    const protocol = (header[0] ?? '').replace(/:$/, '');
    if (!protocol || values[0] !== header[0]) {
      throw new Error(`line ${i + 1}: expected a header and a value line for the same protocol, got "${header[0]}" and "${values[0]}"`);
    }
    if (header.length !== values.length) {
      throw new Error(`line ${i + 2}: ${protocol} has ${header.length - 1} field names but ${values.length - 1} values`);
    }
    out.push({ protocol, headerLine, names: header.slice(1), values: values.slice(1) });
  }
  return out;
}

export function parseNetstat(text: string): NetstatField[] {
  const out: NetstatField[] = [];
  for (const t of parseNetstatTables(text)) {
    t.names.forEach((name, j) => {
      const value = Number(t.values[j]);
      if (Number.isFinite(value)) out.push({ protocol: t.protocol, name, value });
    });
  }
  return out;
}

/** /proc/net/snmp6: `Ip6InReceives  1234` per line; the protocol is the name up to its `6`. */
export function parseSnmp6(text: string): NetstatField[] {
  const out: NetstatField[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\S+?6)(\S+)\s+(\S+)/.exec(line);
    if (!m) continue;
    const value = Number(m[3]);
    if (Number.isFinite(value)) out.push({ protocol: m[1] as string, name: m[2] as string, value });
  }
  return out;
}
