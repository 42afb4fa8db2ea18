import { describe, expect, it } from 'vitest';
import { hostOf, isLoopbackAddress, isLoopbackHost } from '../src/net.ts';

describe('loopback', () => {
  it('knows loopback addresses in every spelling', () => {
    for (const a of [
      '127.0.0.1',
      '127.1.2.3',
      '127.255.255.255',
      '::1',
      '0:0:0:0:0:0:0:1',
      '::ffff:127.0.0.1',
      '::FFFF:127.9.9.9',
      '::ffff:7f00:1',
    ])
      expect(isLoopbackAddress(a), a).toBe(true);
  });

  it('refuses addresses that only look like loopback, and names', () => {
    for (const a of [
      '0.0.0.0',
      '::',
      '128.0.0.1',
      '126.255.255.255',
      '10.0.0.1',
      '::2',
      '::ffff:10.0.0.1',
      'fe80::1',
      '127.1',
      'localhost',
      '[::1]',
      '',
      undefined,
    ])
      expect(isLoopbackAddress(a), String(a)).toBe(false);
  });

  it('knows loopback hosts: localhost in any case, loopback addresses, bracketed IPv6', () => {
    for (const h of ['localhost', 'LOCALHOST', 'Localhost', '127.0.0.1', '127.0.0.53', '::1', '[::1]', '[::ffff:127.0.0.1]'])
      expect(isLoopbackHost(h), h).toBe(true);
  });

  it('refuses look-alike hosts', () => {
    for (const h of [
      '127.example.com',
      '127.0.0.1.nip.io',
      'localhost.evil.example',
      'my-localhost',
      '0.0.0.0',
      '::',
      '[::]',
      '[::2]',
      'localhost:7070',
      '[::1]:7070',
      '',
      undefined,
    ])
      expect(isLoopbackHost(h), String(h)).toBe(false);
  });

  it('takes the host out of HOST:PORT', () => {
    expect(hostOf('127.0.0.1:7070')).toBe('127.0.0.1');
    expect(hostOf('[::1]:7070')).toBe('::1');
    expect(hostOf('[::1]')).toBe('::1');
    expect(hostOf('localhost')).toBe('localhost');
    expect(hostOf('example.com:')).toBe('example.com');
    expect(hostOf('unix:/run/falconet.sock')).toBe('unix:/run/falconet.sock');
    expect(isLoopbackHost(hostOf('LOCALHOST:7070'))).toBe(true);
    expect(isLoopbackHost(hostOf('[::2]:1'))).toBe(false);
  });
});
