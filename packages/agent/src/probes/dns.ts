import { Resolver } from 'node:dns/promises';
import type { ProbeOf } from '@falconet/protocol/probes';
import { type ProbeOut, resolveTarget, splitHostPort, writeResolved } from './out.ts';

/** node:dns error codes for the server's answer code; the others (timeouts, refused connections) have none. */
const RCODE_OF: Record<string, string> = {
  ENODATA: 'NOERROR',
  EFORMERR: 'FORMERR',
  ESERVFAIL: 'SERVFAIL',
  ENOTFOUND: 'NXDOMAIN',
  ENOTIMP: 'NOTIMP',
  EREFUSED: 'REFUSED',
};

/** One query to one server (the target), checked for its answer code and, when asked, its answers. */
export async function probeDns(p: ProbeOf<'dns'>, out: ProbeOut, signal: AbortSignal, timeoutMs: number): Promise<boolean> {
  const { host, port } = splitHostPort(p.target, 53);
  const resolved = await resolveTarget(host);
  writeResolved(out, resolved);
  const o = p.options;
  const resolver = new Resolver({ timeout: timeoutMs, tries: 1 });
  resolver.setServers([resolved.family === 6 ? `[${resolved.address}]:${port}` : `${resolved.address}:${port}`]);
  const onAbort = () => resolver.cancel();
  signal.addEventListener('abort', onAbort, { once: true });
  let answers: unknown[] = [];
  let rcode: string | undefined;
  try {
    answers = (await resolver.resolve(o.query_name, o.query_type)) as unknown[];
    rcode = 'NOERROR';
  } catch (err) {
    rcode = RCODE_OF[(err as NodeJS.ErrnoException).code ?? ''];
    if (!rcode) throw err;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  out.gauge('probe_dns_answer_rrs', 'Returns number of entries in the answer resource record list', answers.length);
  out.gauge('probe_dns_query_succeeded', 'Displays whether or not the query was executed successfully', 1);
  for (const code of ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'])
    out.gauge('probe_dns_rcode', 'The answer code of the query (1 for the one received)', code === rcode ? 1 : 0, { rcode: code });
  const texts = answers.map((a) => (typeof a === 'string' ? a : JSON.stringify(a)));
  const contained = o.answers_contain.every((want) => texts.some((t) => t.includes(want)));
  return o.valid_rcodes.includes(rcode as (typeof o.valid_rcodes)[number]) && contained;
}
