import type { PublicStatusPage } from '@falconet/protocol/api';
import { render, screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { StatusView } from '../src/status-pages/StatusView.tsx';
import { percent, publicTranslator, uptimeClass } from '../src/status-pages/translate.ts';

const DAY = 86_400_000;
const FIRST = Date.UTC(2026, 8, 8);

const view: PublicStatusPage = {
  title: 'Acme',
  description: 'What we run',
  language: 'en',
  firstDayMs: FIRST,
  generatedMs: FIRST + 89 * DAY + 3_600_000,
  status: 'degraded',
  items: [
    {
      kind: 'host',
      name: 'web',
      status: 'up',
      days: [...new Array(88).fill(null), 0.99999, 0.5],
      uptime: 0.749995,
    },
    { kind: 'monitor', name: 'API', status: 'degraded', days: new Array(90).fill(0.96), uptime: 0.96, latencyMs: 12.5 },
  ],
  incidents: [
    {
      title: 'Slow API',
      body: '<img src=x onerror=alert(1)> all slow',
      severity: 'major',
      startedMs: FIRST + 89 * DAY,
      resolvedMs: null,
      updates: [{ atMs: FIRST + 89 * DAY + 60_000, body: 'Found it' }],
    },
  ],
};

describe('the public status view', () => {
  it('draws 90 bars per item, each naming its day and percent, coloured by uptime', () => {
    render(<StatusView view={view} lang="en" t={publicTranslator('en')} />);
    const [host, monitor] = screen.getAllByTestId('status-item');
    const bars = within(host as HTMLElement).getAllByTestId('status-bar');
    expect(bars).toHaveLength(90);
    expect(bars[0]?.getAttribute('title')).toBe('2026-09-08: no data');
    // Rounded down: a day with any downtime never reads 100.00 %.
    expect(bars[88]?.getAttribute('title')).toBe('2026-12-05: 99.99 %');
    expect(bars[89]?.getAttribute('title')).toBe('2026-12-06: 50.00 %');
    expect(bars[89]?.className).toContain('bad');
    expect(bars[88]?.className).toContain('good');
    expect(within(monitor as HTMLElement).getAllByTestId('status-bar')[0]?.className).toContain('poor');
    expect(monitor?.textContent).toContain('12.5 ms');
    expect(screen.getByTestId('status-headline').textContent).toBe('Some systems are degraded');
  });

  it('writes incident text as text, never as markup, and speaks Chinese', () => {
    const { container } = render(<StatusView view={view} lang="zh" t={publicTranslator('zh')} />);
    expect(container.querySelector('img')).toBeNull();
    expect(screen.getByTestId('status-incident').textContent).toContain('<img src=x onerror=alert(1)> all slow');
    expect(screen.getByTestId('status-incident').textContent).toContain('严重');
    expect(screen.getByText('事件')).toBeTruthy();
    expect(screen.getAllByTestId('status-bar')[89]?.getAttribute('title')).toBe('2026-12-06：50.00 %');
  });

  it('classes and percents', () => {
    expect([1, 0.999, 0.995, 0.95, 0.5, null].map(uptimeClass)).toEqual(['good', 'good', 'fair', 'poor', 'bad', 'none']);
    expect(percent(0.99995)).toBe('99.99 %');
    expect(percent(1)).toBe('100.00 %');
  });
});
