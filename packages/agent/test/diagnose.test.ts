import { describe, expect, it } from 'vitest';
import { cleanReason, connectionHint, seconds } from '../src/transport/diagnose.ts';

describe('what a failed dial of the server means', () => {
  it("strips gRPC's wrapping and OpenSSL's codes from the reason", () => {
    expect(cleanReason('No connection established. Last error: Protocol error (2026-12-06T09:26:03.456Z). Resolution note: ')).toBe(
      'Protocol error',
    );
    expect(cleanReason('No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:1. Resolution note: ')).toBe(
      'connect ECONNREFUSED 127.0.0.1:1',
    );
    expect(
      cleanReason(
        'No connection established. Last error: Error: 40:error:0A00010B:SSL routines:tls_validate_record_header:wrong version number:../deps/x.c:77:\n. Resolution note: ',
      ),
    ).toBe('TLS: wrong version number');
  });

  it('says what to check for each kind of failure, and nothing when it cannot tell', () => {
    expect(connectionHint('Protocol error', '127.0.0.1:7070', false)).toMatch(
      /HTTP port of a Falconet server .* gRPC port \(7071 by default\)/,
    );
    expect(connectionHint('connect ECONNREFUSED 127.0.0.1:7071', '127.0.0.1:7071', false)).toMatch(
      /^nothing accepts connections on 127\.0\.0\.1:7071: check that falconet-server runs/,
    );
    expect(connectionHint('TLS: wrong version number', 'h:7071', true)).toMatch(/this agent wants TLS .* h:7071 speaks plaintext/);
    expect(connectionHint('Failed to connect', 'h:7071', false)).toMatch(/point the agent at grpcs:\/\/h:7071/);
    expect(connectionHint('Failed to connect', 'h:7071', true)).toBeUndefined();
    expect(connectionHint('something else', 'h:7071', false)).toBeUndefined();
  });

  it('states delays as a person reads them', () => {
    expect([seconds(78), seconds(3240), seconds(10_357), seconds(30_000)]).toEqual(['0.1 s', '3.2 s', '10 s', '30 s']);
  });
});
