import type { PublicStatusPage, StatusLanguage } from '@falconet/protocol/api';
import { StrictMode, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { StatusView } from './StatusView.tsx';
import { publicTranslator } from './translate.ts';
import '../styles.css';

/**
 * The public status page's own entry (status.html): no sign-in, no session, no dashboard code.
 * It reads /api/public/status/<slug> once a minute (the server's figures change no faster), in
 * the page's language unless the visitor chose the other one (?lang=en|zh).
 */
const REFRESH_MS = 60_000;

document.documentElement.dataset.theme = matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';

type Load = { state: 'loading' } | { state: 'missing' } | { state: 'error'; message: string } | { state: 'ok'; view: PublicStatusPage };

function chosenLang(): StatusLanguage | undefined {
  const l = new URLSearchParams(location.search).get('lang');
  return l === 'en' || l === 'zh' ? l : undefined;
}

function PublicStatusApp({ slug }: { slug: string }) {
  const [load, setLoad] = useState<Load>({ state: 'loading' });
  const [chosen, setChosen] = useState<StatusLanguage | undefined>(chosenLang);
  useEffect(() => {
    let stop = false;
    const read = async () => {
      try {
        const res = await fetch(`/api/public/status/${encodeURIComponent(slug)}`, { credentials: 'omit' });
        if (stop) return;
        if (res.status === 404) setLoad({ state: 'missing' });
        else if (!res.ok) setLoad((l) => (l.state === 'ok' ? l : { state: 'error', message: `${res.status} ${res.statusText}` }));
        else setLoad({ state: 'ok', view: (await res.json()) as PublicStatusPage });
      } catch (err) {
        if (!stop) setLoad((l) => (l.state === 'ok' ? l : { state: 'error', message: (err as Error).message }));
      }
    };
    void read();
    const timer = setInterval(() => void read(), REFRESH_MS);
    return () => {
      stop = true;
      clearInterval(timer);
    };
  }, [slug]);

  const lang: StatusLanguage = chosen ?? (load.state === 'ok' ? load.view.language : navigator.language.startsWith('zh') ? 'zh' : 'en');
  const t = publicTranslator(lang);
  useEffect(() => {
    document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
    if (load.state === 'ok') document.title = load.view.title;
  }, [lang, load]);

  const choose = (l: StatusLanguage) => {
    const u = new URL(location.href);
    u.searchParams.set('lang', l);
    history.replaceState(null, '', u);
    setChosen(l);
  };
  return (
    <>
      <div className="sp-topbar">
        <select
          aria-label={t('status.language')}
          value={lang}
          onChange={(e) => choose(e.target.value as StatusLanguage)}
          data-testid="status-lang"
        >
          <option value="en">English</option>
          <option value="zh">简体中文</option>
        </select>
      </div>
      {load.state === 'ok' ? (
        <StatusView view={load.view} lang={lang} t={t} />
      ) : (
        <div className="sp-page">
          <p data-testid="status-message">
            {load.state === 'loading'
              ? t('status.loading')
              : load.state === 'missing'
                ? t('status.notFound')
                : t('status.loadError', load.message)}
          </p>
        </div>
      )}
    </>
  );
}

const slug = decodeURIComponent(location.pathname.replace(/^\/status\//, '').replace(/\/$/, ''));
createRoot(document.getElementById('root') as HTMLElement).render(
  <StrictMode>
    <PublicStatusApp slug={slug} />
  </StrictMode>,
);
