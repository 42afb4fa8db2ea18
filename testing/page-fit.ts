/**
 * Whether a page fits its viewport's width, measured in the browser: what a phone user would
 * find by swiping sideways. An element may run past the screen's edge only inside a box of its
 * own that scrolls or clips (a wide table in its scroll box); the page itself may not, and
 * hiding the overflow on <html> or <body> does not count as fitting.
 */
import type { Page } from 'playwright-core';

export interface PageFit {
  /** The viewport's width without a scroll bar. */
  viewport: number;
  /** The document's width: more than `viewport` means the page scrolls sideways. */
  scrollWidth: number;
  /** The app header's left and right edges, or null when the page has none. */
  header: { left: number; right: number } | null;
  /** Elements that reach past either edge of the screen with no box of their own around them: `tag.class[data-testid] left..right`. */
  escapees: string[];
}

/** The little of the DOM the function below uses; the tests' tsconfig has no DOM library. */
interface Box {
  left: number;
  right: number;
  width: number;
  height: number;
}
interface El {
  tagName: string;
  className: unknown;
  parentElement: El | null;
  getAttribute(name: string): string | null;
  getBoundingClientRect(): Box;
  querySelectorAll(s: string): ArrayLike<El>;
}
interface Doc {
  documentElement: El & { clientWidth: number; scrollWidth: number };
  body: El & { scrollWidth: number };
  querySelector(s: string): El | null;
}
interface Win {
  document: Doc;
  getComputedStyle(e: El): { overflowX: string; visibility: string; display: string; position: string };
}

export async function measureFit(page: Page): Promise<PageFit> {
  return await page.evaluate(() => {
    const w = globalThis as unknown as Win;
    const doc = w.document;
    const root = doc.documentElement;
    const viewport = root.clientWidth;
    const name = (e: El) => {
      const cls = typeof e.className === 'string' && e.className ? `.${e.className.trim().split(/\s+/).join('.')}` : '';
      const id = e.getAttribute('data-testid');
      return `${e.tagName.toLowerCase()}${cls}${id ? `[data-testid=${id}]` : ''}`;
    };
    // A box that keeps its overflow to itself: scrolling or clipping, below <body>.
    const boxed = (e: El) => {
      for (let p = e.parentElement; p && p !== doc.body && p !== root; p = p.parentElement) {
        if (w.getComputedStyle(p).overflowX !== 'visible') return true;
      }
      return false;
    };
    const escapees: string[] = [];
    const all = Array.from(doc.body.querySelectorAll('*'));
    for (const e of all) {
      const r = e.getBoundingClientRect();
      if (r.width === 0 || r.height === 0) continue;
      if (r.right <= viewport + 0.5 && r.left >= -0.5) continue;
      const style = w.getComputedStyle(e);
      if (style.visibility === 'hidden' || style.position === 'fixed') continue;
      if (boxed(e)) continue;
      // Report the outermost element that escapes, not each of its children.
      const parent = e.parentElement;
      if (parent && parent !== doc.body) {
        const pr = parent.getBoundingClientRect();
        if ((pr.right > viewport + 0.5 || pr.left < -0.5) && !boxed(parent)) continue;
      }
      escapees.push(`${name(e)} ${Math.round(r.left)}..${Math.round(r.right)}`);
    }
    const header = doc.querySelector('header');
    const hr = header?.getBoundingClientRect();
    return {
      viewport,
      scrollWidth: Math.max(root.scrollWidth, doc.body.scrollWidth),
      header: hr ? { left: hr.left, right: hr.right } : null,
      escapees: escapees.slice(0, 12),
    };
  });
}
