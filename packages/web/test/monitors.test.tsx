/**
 * The Monitors page's own parts: how figures are written, reading the fields a refusal names, and
 * the form (what it sends, and each refusal shown beside its field) against a stubbed server.
 */
import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { fieldErrors } from '../src/monitors/client.ts';
import { certDays, durationText, latencyText, uptimeText } from '../src/monitors/format.ts';
import { MonitorForm } from '../src/monitors/MonitorForm.tsx';
import { stubFetch } from './fetch-stub.ts';
import { renderPage } from './render.tsx';

describe('monitor figures', () => {
  it('write uptime cut, not rounded, so that a failure never reads 100%', () => {
    expect(uptimeText(0.99996)).toBe('99.99%');
    expect(uptimeText(1)).toBe('100.00%');
    expect(uptimeText(null)).toBe('–');
    expect(latencyText(3.25)).toBe('3.3 ms');
    expect(latencyText(250.4)).toBe('250 ms');
    expect(latencyText(1520)).toBe('1.52 s');
    expect(latencyText(null)).toBe('–');
  });

  it('count certificate days down to expiry, negative after', () => {
    const now = Date.UTC(2026, 0, 1);
    expect(certDays(now + 13.5 * 86_400_000, now)).toBe(13);
    expect(certDays(now - 3_600_000, now)).toBe(-1);
    expect(certDays(null, now)).toBeNull();
  });

  it('write durations as the probe config does', () => {
    expect([30_000, 120_000, 7_200_000, 1500].map(durationText)).toEqual(['30s', '2m', '2h', '1500ms']);
  });
});

describe('refusals', () => {
  it('are read field by field, what names no field kept apart', () => {
    expect(fieldErrors('body probe.target: expected HOST:PORT; body name: a name; the server is busy')).toEqual({
      'probe.target': 'expected HOST:PORT',
      name: 'a name',
      '': 'the server is busy',
    });
  });
});

describe('the monitor form', () => {
  it('sends the spec it shows and puts each refusal beside the field it names', async () => {
    const onDone = vi.fn();
    const server = stubFetch({
      'GET /api/agents': { body: { items: [], total: 0 } },
      'GET /api/alerts/channels': { body: { items: [] } },
      'GET /api/auth/session': { body: { mode: 'setup', user: null, csrfToken: null, expiresMs: null } },
      'POST /api/monitors': {
        status: 400,
        body: {
          error: {
            code: 'bad_request',
            message:
              'body probe.target: expected an http:// or https:// URL; body probe.options.valid_status_codes.0: expected number; body agents: choose the agents by ids or by labels; body probe.options.tls.ca_file: no such file',
          },
        },
      },
    });
    renderPage(<MonitorForm onDone={onDone} />);
    const user = userEvent.setup();
    const form = screen.getByTestId('monitor-form');
    const field = (name: string) => form.querySelector(`[data-field="${name}"]`) as HTMLInputElement;
    await user.type(field('name'), 'shop');
    await user.type(field('target'), 'shop.example');
    await user.type(field('valid_status_codes'), '200, ok');
    await user.click(screen.getByTestId('monitor-save'));

    await waitFor(() => expect(field('target').getAttribute('aria-invalid')).toBe('true'));
    const note = (input: HTMLElement) => document.getElementById(input.getAttribute('aria-describedby') as string)?.textContent;
    expect(note(field('target'))).toBe('expected an http:// or https:// URL');
    expect(note(field('valid_status_codes'))).toBe('expected number');
    expect(screen.getByTestId('field-error-agents').textContent).toBe('choose the agents by ids or by labels');
    // An option the form has no field for goes beside "Other options".
    expect(note(field('options'))).toBe('no such file');
    expect(field('name').getAttribute('aria-invalid')).toBeNull();
    expect(onDone).not.toHaveBeenCalled();

    expect(server.to('POST /api/monitors')[0]?.body).toEqual({
      name: 'shop',
      probe: {
        kind: 'http',
        target: 'shop.example',
        interval: '30s',
        timeout: '5s',
        options: { method: 'GET', valid_status_codes: [200, 'ok'], keyword: '', keyword_absent: '', follow_redirects: true },
      },
      agents: { ids: [], labels: {} },
      alert_failing_locations: 1,
      channels: [],
      paused: false,
    });
  });
});
