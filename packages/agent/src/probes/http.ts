import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { ProbeOf } from '@falconet/protocol/probes';
import { type ProbeOut, type Resolved, resolveTarget, type TlsFacts, tlsFacts, writeResolved, writeTls } from './out.ts';
import { tlsConnectOptions } from './tls.ts';

const MAX_BODY = 1024 * 1024;

interface Response {
  res: IncomingMessage;
  body: Buffer;
  tls?: TlsFacts | undefined;
}

/** When each step of one request happened (performance.now() ms), as blackbox's httptrace records them; 0 = did not happen. */
interface HopTrace {
  connectStart: number;
  connected: number;
  secured: number;
  responseStart: number;
  end: number;
}

const PHASES = ['resolve', 'connect', 'tls', 'processing', 'transfer'] as const;

/**
 * probe_http_duration_seconds by phase, summed over the hops as blackbox sums them: `connect`
 * the TCP connection, `tls` its handshake, `processing` from the connection ready to the
 * response's headers, `transfer` from there to the body's end (the last hop only: blackbox
 * reads the bodies of redirects without timing them).
 */
function writePhases(out: ProbeOut, resolveS: number, hops: HopTrace[]): void {
  const sums: Record<(typeof PHASES)[number], number> = { resolve: resolveS * 1000, connect: 0, tls: 0, processing: 0, transfer: 0 };
  hops.forEach((h, i) => {
    if (!h.connected) return;
    sums.connect += h.connected - h.connectStart;
    const ready = h.secured || h.connected;
    if (h.secured) sums.tls += h.secured - h.connected;
    if (!h.responseStart) return;
    sums.processing += h.responseStart - ready;
    if (h.end && i === hops.length - 1) sums.transfer += h.end - h.responseStart;
  });
  for (const phase of PHASES)
    out.gauge('probe_http_duration_seconds', 'Duration of http request by phase, summed over all redirects', sums[phase] / 1000, { phase });
}

/**
 * HTTP(S): one request per hop, redirects followed by hand so each is counted, the status and
 * body checked, the certificate of the last TLS hop reported. Writes the series blackbox_exporter's
 * http prober writes; returns whether the probe succeeded.
 */
export async function probeHttp(p: ProbeOf<'http'>, out: ProbeOut, signal: AbortSignal): Promise<boolean> {
  const o = p.options;
  let url = new URL(p.target);
  let redirects = 0;
  let resolveS = 0;
  let response: Response;
  let resolved: Resolved;
  const hops: HopTrace[] = [];
  try {
    for (;;) {
      resolved = await resolveTarget(url.hostname);
      resolveS += resolved.seconds;
      const hop: HopTrace = { connectStart: 0, connected: 0, secured: 0, responseStart: 0, end: 0 };
      hops.push(hop);
      response = await send(url, resolved.address, p, signal, hop);
      const location = response.res.headers.location;
      if (o.follow_redirects && location && [301, 302, 303, 307, 308].includes(response.res.statusCode ?? 0)) {
        if (redirects >= o.max_redirects) throw new Error(`more than ${o.max_redirects} redirects`);
        redirects++;
        url = new URL(location, url);
        continue;
      }
      break;
    }
  } finally {
    // A run that failed part way still shows how far it got, as blackbox's phases do.
    writePhases(out, resolveS, hops);
  }
  // The lookups of every hop add up.
  writeResolved(out, resolved, resolveS);
  const status = response.res.statusCode ?? 0;
  const ssl = url.protocol === 'https:';
  out.gauge('probe_http_status_code', 'Response HTTP status code', status);
  out.gauge('probe_http_redirects', 'The number of redirects', redirects);
  out.gauge('probe_http_ssl', 'Indicates if SSL was used for the final redirect', ssl ? 1 : 0);
  out.gauge('probe_http_content_length', 'Length of http content response', Number(response.res.headers['content-length'] ?? -1));
  out.gauge('probe_http_uncompressed_body_length', 'Length of uncompressed response body', response.body.length);
  out.gauge('probe_http_version', 'Returns the version of HTTP of the probe response', Number(response.res.httpVersion));
  if (response.tls) writeTls(response.tls, out);

  const accepted = o.valid_status_codes.length ? o.valid_status_codes.includes(status) : status >= 200 && status < 300;
  const bodyOk = bodyChecks(p, response.body.toString('utf8'));
  out.gauge('probe_failed_due_to_regex', 'Indicates if probe failed due to regex', bodyOk ? 0 : 1);
  return accepted && bodyOk && (!o.fail_if_not_ssl || ssl);
}

function send(url: URL, address: string, p: ProbeOf<'http'>, signal: AbortSignal, hop: HopTrace): Promise<Response> {
  const o = p.options;
  const https = url.protocol === 'https:';
  return (async () => {
    const tls = https ? await tlsConnectOptions(o.tls, url.hostname) : {};
    hop.connectStart = performance.now();
    return new Promise<Response>((resolve, reject) => {
      const req = (https ? httpsRequest : httpRequest)(
        url,
        {
          method: o.method,
          headers: { 'user-agent': 'falconet-agent probe', ...o.headers },
          signal,
          agent: false,
          // Connect to the address resolved (and timed) above, keeping the URL's host for Host and SNI.
          lookup: (_host, opts, cb) => {
            const family = address.includes(':') ? 6 : 4;
            if ((opts as { all?: boolean }).all)
              (cb as (e: null, a: { address: string; family: number }[]) => void)(null, [{ address, family }]);
            else cb(null, address, family);
          },
          ...tls,
        },
        (res) => {
          hop.responseStart = performance.now();
          const chunks: Buffer[] = [];
          let size = 0;
          const facts = https ? tlsFacts(res.socket as TLSSocket) : undefined;
          res.on('data', (b: Buffer) => {
            size += b.length;
            if (size <= MAX_BODY) chunks.push(b);
          });
          res.on('end', () => {
            hop.end = performance.now();
            resolve({ res, body: Buffer.concat(chunks), tls: facts });
          });
          res.on('error', reject);
        },
      );
      req.on('socket', (socket) => {
        socket.once('connect', () => {
          hop.connected = performance.now();
        });
        socket.once('secureConnect', () => {
          hop.secured = performance.now();
        });
      });
      req.on('error', reject);
      req.end(o.body || undefined);
    });
  })();
}

function bodyChecks(p: ProbeOf<'http'>, body: string): boolean {
  const o = p.options;
  if (o.keyword && !body.includes(o.keyword)) return false;
  if (o.keyword_absent && body.includes(o.keyword_absent)) return false;
  if (o.json_path) {
    let doc: unknown;
    try {
      doc = JSON.parse(body);
    } catch {
      return false;
    }
    const found = jsonPath(doc, o.json_path);
    if (!found.exists) return false;
    if (o.json_value !== undefined && jsonText(found.value) !== o.json_value) return false;
  }
  return true;
}

/** Follows `$.a.b[0]` through parsed JSON. */
export function jsonPath(doc: unknown, path: string): { exists: boolean; value?: unknown } {
  let cur: unknown = doc;
  for (const m of path.slice(1).matchAll(/\.([A-Za-z0-9_-]+)|\[(\d+)\]/g)) {
    const key = m[1] ?? Number(m[2]);
    if (cur === null || typeof cur !== 'object' || !Object.hasOwn(cur, key)) return { exists: false };
    cur = (cur as Record<string | number, unknown>)[key];
  }
  return { exists: true, value: cur };
}

const jsonText = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));
