import type { Agent } from '@falconet/protocol/api';
import { useEffect, useLayoutEffect, useRef, useState } from 'react';
import { percent } from '../format.ts';
import { type Translate, useI18n } from '../i18n.tsx';
import { cellAt, HEAT_GRADIENT, type HeatLayout, type HeatMetric, heatColor, heatLayout, heatValue } from './heatmap.ts';
import { identityText } from './identity.tsx';
import type { AgentStore } from './store.ts';
import './overview.css';

const METRIC_WORD: Record<HeatMetric, 'heat.cpu' | 'heat.memory' | 'heat.disk'> = {
  cpu: 'heat.cpu',
  memory: 'heat.memory',
  disk: 'heat.disk',
};
/** Room kept below the map, so its last row and the legend stay on the first screen. */
const BELOW_PX = 56;
/** However little room is left under the toolbar, the map gets at least this much height. */
const MIN_HEIGHT_PX = 240;

/** The page's theme (`<html data-theme>`): the offline and no-data colours come from it, so a switch repaints. */
function useThemeName(): string {
  const [theme, setTheme] = useState(() => document.documentElement.dataset.theme ?? '');
  useEffect(() => {
    const seen = new MutationObserver(() => setTheme(document.documentElement.dataset.theme ?? ''));
    seen.observe(document.documentElement, { attributes: true, attributeFilter: ['data-theme'] });
    return () => seen.disconnect();
  }, []);
  return theme;
}

/** What the tooltip says of a host: its name (told apart from a namesake), status and value with its unit. */
export function heatTip(t: Translate, a: Agent, metric: HeatMetric, sharesName: boolean): string {
  const name = sharesName ? `${a.hostname} (${identityText(t, a)})` : a.hostname;
  const v = heatValue(a, metric);
  const value = v === undefined ? t('heat.noData') : t('heat.value', percent(v));
  return `${name}\n${t(METRIC_WORD[metric])} ${value}${a.status === 'online' ? '' : ` · ${t('heat.offline')}`}`;
}

/**
 * The fleet as one canvas of square cells, one per host in the list's order, coloured by CPU,
 * memory or disk. One canvas (not thousands of nodes): a full paint of 5,000 cells is a few
 * milliseconds, and a live sample repaints its one cell, straight from the store, without React.
 */
export function Heatmap({
  store,
  ids,
  metric,
  onOpen,
}: {
  store: AgentStore;
  ids: readonly string[];
  metric: HeatMetric;
  onOpen(id: string): void;
}) {
  const { t } = useI18n();
  const wrap = useRef<HTMLDivElement>(null);
  const canvas = useRef<HTMLCanvasElement>(null);
  const tip = useRef<HTMLDivElement>(null);
  const [box, setBox] = useState({ width: 0, height: 0 });
  const [focus, setFocus] = useState(-1);
  const theme = useThemeName();
  const layout = useRef<HeatLayout | null>(null);
  const hoverRef = useRef(-1);
  const focusRef = useRef(-1);
  focusRef.current = focus;
  /** Paints one cell again with the current layout (set by the paint effect). */
  const repaint = useRef<(i: number) => void>(() => undefined);

  // The room: the list's width, and the window's height below the map's top.
  useLayoutEffect(() => {
    const measure = () => {
      const el = wrap.current;
      if (!el) return;
      const top = el.getBoundingClientRect().top + scrollY;
      const width = el.clientWidth;
      const height = Math.max(MIN_HEIGHT_PX, innerHeight - top - BELOW_PX);
      setBox((b) => (b.width === width && b.height === height ? b : { width, height }));
    };
    measure();
    addEventListener('resize', measure);
    return () => removeEventListener('resize', measure);
  }, []);

  // biome-ignore lint/correctness/useExhaustiveDependencies: a theme switch changes the colours read from CSS: paint again
  useLayoutEffect(() => {
    const el = canvas.current;
    if (!el || !box.width) return;
    const l = heatLayout(ids.length, box.width, box.height);
    layout.current = l;
    const dpr = devicePixelRatio || 1;
    el.width = Math.round(l.width * dpr);
    el.height = Math.round(l.height * dpr);
    el.style.width = `${l.width}px`;
    el.style.height = `${l.height}px`;
    el.dataset.cols = String(l.cols);
    el.dataset.cell = String(l.cell);
    const ctx = el.getContext('2d');
    const index = new Map(ids.map((id, i) => [id, i]));
    const style = getComputedStyle(el);
    const empty = style.getPropertyValue('--meter').trim() || '#e5e7eb';
    const offline = style.getPropertyValue('--muted').trim() || '#6b7280';
    const surface = style.getPropertyValue('--surface').trim() || '#ffffff';
    const gap = l.cell > 8 ? 1 : 0.5;
    const side = l.cell - gap;

    const paintCell = (i: number, a: Agent | undefined) => {
      if (!ctx) return;
      const x = (i % l.cols) * l.cell;
      const y = Math.floor(i / l.cols) * l.cell;
      ctx.clearRect(x, y, l.cell, l.cell);
      const v = a ? heatValue(a, metric) : undefined;
      if (a && a.status !== 'online') {
        // Offline: grey, struck through, whatever its last value was.
        ctx.fillStyle = offline;
        ctx.globalAlpha = 0.35;
        ctx.fillRect(x, y, side, side);
        ctx.globalAlpha = 1;
        ctx.strokeStyle = offline;
        ctx.lineWidth = Math.max(1, l.cell / 10);
        ctx.beginPath();
        ctx.moveTo(x + 1, y + side - 1);
        ctx.lineTo(x + side - 1, y + 1);
        ctx.stroke();
      } else {
        ctx.fillStyle = v === undefined ? empty : heatColor(v);
        ctx.fillRect(x, y, side, side);
      }
      if (i === focusRef.current) {
        ctx.strokeStyle = style.getPropertyValue('--fg').trim() || '#111827';
        ctx.lineWidth = 2;
        ctx.strokeRect(x + 1, y + 1, side - 2, side - 2);
        ctx.strokeStyle = surface;
        ctx.lineWidth = 1;
        ctx.strokeRect(x + 2.5, y + 2.5, side - 5, side - 5);
      }
    };

    const started = performance.now();
    ctx?.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx?.clearRect(0, 0, l.width, l.height);
    let painted = 0;
    ids.forEach((id, i) => {
      paintCell(i, store.get(id));
      painted++;
    });
    // How many cells are drawn and how long that took, for tests and the benchmark.
    el.dataset.cells = String(painted);
    el.dataset.paintMs = (performance.now() - started).toFixed(1);
    el.dataset.metric = metric;
    repaint.current = (i: number) => paintCell(i, store.get(ids[i] as string));

    return store.watchFleet((changed) => {
      for (const id of changed) {
        const i = index.get(id);
        if (i === undefined) continue;
        paintCell(i, store.get(id));
        if (i === hoverRef.current) tipAt.current(i);
      }
    });
  }, [ids, metric, box, store, theme]);

  function showTip(i: number) {
    const el = tip.current;
    const l = layout.current;
    const a = i >= 0 ? store.get(ids[i] as string) : undefined;
    hoverRef.current = a ? i : -1;
    if (!el) return;
    if (!a || !l) {
      el.hidden = true;
      return;
    }
    el.hidden = false;
    el.textContent = heatTip(t, a, metric, store.sharesName(a));
    el.dataset.agentId = a.id;
    el.dataset.status = a.status;
    const x = (i % l.cols) * l.cell;
    const y = Math.floor(i / l.cols) * l.cell;
    // Beside the cell, flipped to its left on the right half so it stays inside the map.
    const left = x > l.width / 2;
    el.style.left = left ? '' : `${x + l.cell + 6}px`;
    el.style.right = left ? `${l.width - x + 6}px` : '';
    el.style.top = `${y}px`;
  }

  // The effects call the tip of the latest render: its words in the language now chosen.
  const tipAt = useRef(showTip);
  tipAt.current = showTip;

  // Keyboard: the focused cell is outlined (repainted as focus moves) and its tip shown.
  const prevFocus = useRef(-1);
  useEffect(() => {
    const before = prevFocus.current;
    prevFocus.current = focus;
    if (before >= 0 && before < ids.length) repaint.current(before);
    if (focus >= 0 && focus < ids.length) {
      repaint.current(focus);
      tipAt.current(focus);
    }
  }, [focus, ids]);

  const pointAt = (e: React.MouseEvent<HTMLCanvasElement>) => {
    const l = layout.current;
    if (!l) return -1;
    const r = e.currentTarget.getBoundingClientRect();
    return cellAt(l, ids.length, e.clientX - r.left, e.clientY - r.top);
  };

  const onKey = (e: React.KeyboardEvent<HTMLCanvasElement>) => {
    const l = layout.current;
    if (!l || !ids.length) return;
    const at = focus < 0 ? 0 : focus;
    const step: Record<string, number> = {
      ArrowRight: 1,
      ArrowLeft: -1,
      ArrowDown: l.cols,
      ArrowUp: -l.cols,
      Home: -at,
      End: ids.length - 1 - at,
    };
    if (e.key in step) {
      e.preventDefault();
      setFocus(focus < 0 ? 0 : Math.max(0, Math.min(ids.length - 1, at + (step[e.key] as number))));
    } else if (e.key === 'Enter' && focus >= 0) {
      e.preventDefault();
      onOpen(ids[focus] as string);
    }
  };

  const name = t(METRIC_WORD[metric]);
  return (
    <div className="heatmap" data-testid="heatmap">
      <div ref={wrap} className="heat-wrap">
        {ids.length ? (
          <canvas
            ref={canvas}
            tabIndex={0}
            role="img"
            aria-label={t('heat.aria', ids.length, name)}
            data-testid="heatmap-canvas"
            onMouseMove={(e) => {
              const i = pointAt(e);
              if (i !== hoverRef.current) showTip(i);
              e.currentTarget.style.cursor = i >= 0 ? 'pointer' : '';
            }}
            onMouseLeave={() => showTip(focus)}
            onClick={(e) => {
              const i = pointAt(e);
              if (i >= 0) onOpen(ids[i] as string);
            }}
            onKeyDown={onKey}
            onBlur={() => setFocus(-1)}
          />
        ) : (
          <p className="empty">{t('heat.empty')}</p>
        )}
        <div ref={tip} className="heat-tip" role="tooltip" data-testid="heatmap-tip" hidden />
      </div>
      <div className="heat-legend" data-testid="heatmap-legend">
        <span className="sr-only">{t('heat.legend')}</span>
        <span className="heat-item">
          <strong title={metric === 'disk' ? t('hint.disk') : undefined}>{name}</strong>
          0%
          <span className="heat-scale" style={{ background: HEAT_GRADIENT }} aria-hidden="true" />
          100%
        </span>
        <span className="heat-item">
          <span className="heat-key offline" aria-hidden="true" />
          {t('heat.offline')}
        </span>
        <span className="heat-item">
          <span className="heat-key none" aria-hidden="true" />
          {t('heat.noData')}
        </span>
      </div>
    </div>
  );
}
