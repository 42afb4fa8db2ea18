import { cleanup } from '@testing-library/react';
import { afterEach, vi } from 'vitest';

// Vitest's globals are off, so testing-library cannot unmount by itself: every test starts on an empty page.
afterEach(() => {
  cleanup();
  vi.useRealTimers();
  vi.restoreAllMocks();
  vi.unstubAllGlobals();
  localStorage.clear();
  sessionStorage.clear();
});
