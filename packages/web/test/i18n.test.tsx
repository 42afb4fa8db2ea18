import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { chartClock } from '../src/host/time-axis.ts';
import { alertsEn, alertsZh } from '../src/i18n/alerts.ts';
import { authEn, authZh } from '../src/i18n/auth.ts';
import { containersEn, containersZh } from '../src/i18n/containers.ts';
import { hostsEn, hostsZh } from '../src/i18n/hosts.ts';
import { logAlertsEn, logAlertsZh } from '../src/i18n/log-alerts.ts';
import { tasksEn, tasksZh } from '../src/i18n/tasks.ts';
import { agoText, DICTS, dateTime, I18nProvider, LANG_KEY, type Translate, useI18n, withNodes, word } from '../src/i18n.tsx';

/** Each area's pair of tables and the key prefixes its file says it owns. */
const AREAS = {
  alerts: { en: alertsEn, zh: alertsZh, prefixes: ['alerts.'] },
  auth: { en: authEn, zh: authZh, prefixes: ['auth.', 'settings.', 'warning.'] },
  containers: { en: containersEn, zh: containersZh, prefixes: ['ctr.'] },
  hosts: { en: hostsEn, zh: hostsZh, prefixes: ['view.', 'heat.', 'ident.', 'hint.', 'docker.'] },
  tasks: { en: tasksEn, zh: tasksZh, prefixes: ['tasks.'] },
  // The rule editor's log_lines texts: alerts keys kept in a file of their own.
  logAlerts: { en: logAlertsEn, zh: logAlertsZh, prefixes: ['alerts.'] },
} as const;

const TABLES: [string, Record<string, string>, Record<string, string>][] = [
  ['merged', DICTS.en, DICTS.zh],
  ...Object.entries(AREAS).map(([name, a]): [string, Record<string, string>, Record<string, string>] => [name, a.en, a.zh]),
];

const placeholders = (text: string) => [...text.matchAll(/\{[^{}]*\}/g)].map((m) => m[0]).sort();

describe('the dictionaries', () => {
  it.each(TABLES)('%s: every key is in both English and Simplified Chinese', (_name, en, zh) => {
    expect(Object.keys(zh).sort()).toEqual(Object.keys(en).sort());
  });

  it.each(TABLES)('%s: no text is empty', (_name, en, zh) => {
    const empty = [...Object.entries(en), ...Object.entries(zh)].filter(([, v]) => v.trim() === '').map(([k]) => k);
    expect(empty).toEqual([]);
  });

  it('give every text the same placeholders in both languages', () => {
    const differ = Object.keys(DICTS.en)
      .map((k) => [k, placeholders(DICTS.en[k as keyof typeof DICTS.en]), placeholders(DICTS.zh[k as keyof typeof DICTS.zh])] as const)
      .filter(([, en, zh]) => en.join() !== zh.join());
    expect(differ).toEqual([]);
  });

  it('number placeholders {0} to {9} from 0 without holes, the only form t() fills', () => {
    for (const [k, v] of Object.entries(DICTS.en)) {
      const used = [...new Set(placeholders(v))];
      expect(
        used.every((p) => /^\{\d\}$/.test(p)),
        `${k}: ${v}`,
      ).toBe(true);
      expect(used, `${k}: ${v}`).toEqual(used.map((_, i) => `{${i}}`));
    }
  });

  it('translate every text: Chinese ones differ from the English but for abbreviations, and English ones hold no Chinese', () => {
    const same = Object.entries(DICTS.en).filter(([k, v]) => DICTS.zh[k as keyof typeof DICTS.zh] === v && !/^[A-Z]{2,5}$/.test(v));
    expect(same).toEqual([]);
    const cjkInEnglish = Object.entries(DICTS.en).filter(([, v]) => /[\u3000-\u9fff\uff00-\uffef]/.test(v));
    expect(cjkInEnglish).toEqual([]);
  });

  it("keep each area's keys under its own prefixes, and no key in two areas (a later table would hide the earlier one's text)", () => {
    const seen = new Map<string, string>();
    for (const [name, area] of Object.entries(AREAS)) {
      for (const k of Object.keys(area.en)) {
        expect(
          area.prefixes.some((p) => k.startsWith(p)),
          `${name}: ${k}`,
        ).toBe(true);
        expect(seen.get(k), k).toBeUndefined();
        seen.set(k, name);
      }
    }
    const core = Object.keys(DICTS.en).filter((k) => !seen.has(k));
    const prefixes = Object.values(AREAS).flatMap((a) => a.prefixes);
    expect(core.filter((k) => prefixes.some((p) => k.startsWith(p)))).toEqual([]);
  });
});

/** Shows what the current language's `t` makes of a few keys, and offers the language switch. */
function Probe() {
  const { t, lang, setLang } = useI18n();
  return (
    <div>
      <p data-testid="lang">{lang}</p>
      <p data-testid="shown">{t('agents.shown', 3, 10)}</p>
      <p data-testid="raw">{t('agents.shown')}</p>
      <p data-testid="role">{word(t, 'auth.role', 'operator')}</p>
      <p data-testid="unknown">{word(t, 'auth.role', 'auditor')}</p>
      <button type="button" onClick={() => setLang(lang === 'en' ? 'zh' : 'en')}>
        switch
      </button>
    </div>
  );
}

describe('I18nProvider', () => {
  it("starts in the saved language, else the browser's, and fills placeholders in order", () => {
    vi.spyOn(navigator, 'language', 'get').mockReturnValue('zh-CN');
    const { unmount } = render(
      <I18nProvider>
        <Probe />
      </I18nProvider>,
    );
    expect(screen.getByTestId('lang').textContent).toBe('zh');
    expect(screen.getByTestId('shown').textContent).toBe('显示 3 / 10 台主机');
    expect(document.documentElement.lang).toBe('zh-CN');
    unmount();

    localStorage.setItem(LANG_KEY, 'en');
    render(
      <I18nProvider>
        <Probe />
      </I18nProvider>,
    );
    expect(screen.getByTestId('shown').textContent).toBe('3 of 10 agents');
    expect(screen.getByTestId('raw').textContent).toBe('{0} of {1} agents');
    expect(screen.getByTestId('role').textContent).toBe('operator');
    expect(screen.getByTestId('unknown').textContent).toBe('auditor');
  });

  it('switches language on the page, remembers it, and sets <html lang>', async () => {
    vi.spyOn(navigator, 'language', 'get').mockReturnValue('en-GB');
    render(
      <I18nProvider>
        <Probe />
      </I18nProvider>,
    );
    expect(screen.getByTestId('lang').textContent).toBe('en');
    await userEvent.click(screen.getByRole('button', { name: 'switch' }));
    expect(screen.getByTestId('role').textContent).toBe('运维');
    expect(localStorage.getItem(LANG_KEY)).toBe('zh');
    expect(document.documentElement.lang).toBe('zh-CN');
  });
});

describe('texts built from the dictionary', () => {
  const tEn: Translate = (k, ...a) => DICTS.en[k].replace(/\{(\d)\}/g, (_, i) => String(a[Number(i)] ?? ''));
  const tZh: Translate = (k, ...a) => DICTS.zh[k].replace(/\{(\d)\}/g, (_, i) => String(a[Number(i)] ?? ''));
  const NOW = 1_700_000_000_000;

  it('say how long ago in seconds, minutes, hours and days, in either language, never in the future', () => {
    expect(agoText(tEn, NOW - 12_000, NOW)).toBe('12s ago');
    expect(agoText(tEn, NOW - 59_000, NOW)).toBe('59s ago');
    expect(agoText(tEn, NOW - 60_000, NOW)).toBe('1m ago');
    expect(agoText(tEn, NOW - 2 * 3_600_000, NOW)).toBe('2h ago');
    expect(agoText(tEn, NOW - 3 * 86_400_000, NOW)).toBe('3d ago');
    expect(agoText(tEn, NOW + 5_000, NOW)).toBe('0s ago');
    expect(agoText(tZh, NOW - 12_000, NOW)).toBe('12 秒前');
    expect(agoText(tZh, NOW - 5 * 60_000, NOW)).toBe('5 分钟前');
    expect(agoText(tZh, NOW - 3 * 86_400_000, NOW)).toBe('3 天前');
  });

  it("write a date as the charts' legends do: year-month-day and 24 hours in Chinese, the browser's locale in English; a dash for none", () => {
    const at = new Date(2026, 0, 2, 15, 4, 5).getTime();
    expect(dateTime('zh', at)).toBe('2026-01-02 15:04:05');
    expect(dateTime('en', at)).toBe(chartClock('en').full(at));
    for (const none of [0, null, undefined]) expect(dateTime('zh', none)).toBe('—');
  });

  it('put elements in place of placeholders, the text around them kept', () => {
    render(
      <p data-testid="p">
        {withNodes(DICTS.en['auth.setup.exists'], [
          <a key="a" href="/">
            Sign in
          </a>,
        ])}
      </p>,
    );
    const p = screen.getByTestId('p');
    expect(p.textContent).toBe('A user exists. Sign in.');
    expect(p.querySelector('a')?.getAttribute('href')).toBe('/');
  });
});
