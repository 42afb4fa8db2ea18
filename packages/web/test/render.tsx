import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { render } from '@testing-library/react';
import type { ReactElement } from 'react';
import { I18nProvider, LANG_KEY, type Lang } from '../src/i18n.tsx';

/** Renders as main.tsx does (queries and the dictionary), in the language given; no retries, so a failure shows at once. */
export function renderPage(ui: ReactElement, { lang = 'en' }: { lang?: Lang } = {}) {
  localStorage.setItem(LANG_KEY, lang);
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  return {
    client,
    ...render(
      <QueryClientProvider client={client}>
        <I18nProvider>{ui}</I18nProvider>
      </QueryClientProvider>,
    ),
  };
}
