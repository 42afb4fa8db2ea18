import { useEffect } from 'react';

/** The browser tab says which page this is: "Alerts · Falconet", in the current language. */
export function usePageTitle(page: string | undefined): void {
  useEffect(() => {
    document.title = page ? `${page} · Falconet` : 'Falconet';
  }, [page]);
}
