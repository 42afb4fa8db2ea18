/**
 * What a failed connection to the server most likely means, in words a user acts on. gRPC
 * reports the socket's fate in its own wording ("No connection established. Last error: ...");
 * the agent tells the story: which address, what it found there, and what to check.
 */

/** gRPC's wrapping of a connection failure, without the timestamps and the empty resolution note. */
export function cleanReason(reason: string): string {
  return (
    reason
      .replace(/^No connection established\. Last error: /, '')
      .replace(/^Error: /, '')
      .replace(/\s*\(\d{4}-\d\d-\d\dT[\d:.]+Z\)/, '')
      .replace(/\.?\s*Resolution note: ?$/, '')
      // OpenSSL's `40..:error:0A00010B:SSL routines:func:reason:file:line:` keeps only its reason.
      .replace(/^[0-9A-F]+:error:[0-9A-F]+:SSL routines:[^:]+:([^:]+):[\s\S]*$/, 'TLS: $1')
      .trim()
  );
}

/** A sentence saying what to do about a failed dial of `target`, or undefined when the reason says it already. */
export function connectionHint(reason: string, target: string, tls: boolean): string | undefined {
  if (/ECONNREFUSED/.test(reason)) {
    return `nothing accepts connections on ${target}: check that falconet-server runs there and that this is its --grpc-listen address (127.0.0.1:7071 by default)`;
  }
  if (/ENOTFOUND|EAI_AGAIN/.test(reason)) return `the host name of ${target} does not resolve: check server.url`;
  if (/ETIMEDOUT|EHOSTUNREACH|ENETUNREACH/.test(reason)) return `${target} does not answer: check the address and any firewall between`;
  // An HTTP/1.1 server answers the HTTP/2 preface with a response gRPC calls a protocol error.
  if (/Protocol error/i.test(reason)) {
    return `${target} answers HTTP, not gRPC: this is likely the HTTP port of a Falconet server (7070 by default); agents use its gRPC port (7071 by default)`;
  }
  if (tls && /wrong version number|packet length too long|unexpected eof/i.test(reason)) {
    return `this agent wants TLS (grpcs://) but ${target} speaks plaintext: use grpc://${target}, or turn grpc_tls on at the server`;
  }
  if (!tls && /^Failed to connect$/.test(reason)) {
    return `the connection opened but ${target} did not speak plaintext gRPC: if the server uses TLS (grpc_tls), point the agent at grpcs://${target}`;
  }
  return undefined;
}

/** `0.1 s`, `3.2 s`, `30 s`: a delay as a retry line states it. */
export function seconds(ms: number): string {
  const s = ms / 1000;
  return `${s < 10 ? Math.round(s * 10) / 10 : Math.round(s)} s`;
}
