import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App.tsx';
import { prefetchAgents } from './api.ts';
import { AuthGate } from './auth/AuthGate.tsx';
import { I18nProvider, THEME_KEY } from './i18n.tsx';
import './styles.css';
import './phone.css';

// The saved theme applies before the first paint, on every page (settings and sign-in too).
{
  const saved = localStorage.getItem(THEME_KEY);
  document.documentElement.dataset.theme =
    saved === 'dark' || saved === 'light' ? saved : matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

// The fleet list is on the way while the session is checked: the overview's first paint waits for one round trip, not two.
prefetchAgents();

const client = new QueryClient({ defaultOptions: { queries: { staleTime: 5_000, retry: 1 } } });

createRoot(document.getElementById('root') as HTMLElement).render(
  <StrictMode>
    <QueryClientProvider client={client}>
      <I18nProvider>
        <AuthGate>
          <App />
        </AuthGate>
      </I18nProvider>
    </QueryClientProvider>
  </StrictMode>,
);
