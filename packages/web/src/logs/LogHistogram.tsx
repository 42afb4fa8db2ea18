import type { LogHistogramAnswer } from '@falconet/protocol/api';
import { useI18n } from '../i18n.tsx';

/** Bottom to top: the quiet levels under the loud ones. */
const STACK = ['unspecified', 'trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;

function stepText(ms: number): string {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000}d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  return `${Math.round(ms / 1000)}s`;
}

/**
 * Matching lines per time bucket as bars stacked by level (an SVG stretched to the width: a
 * bucket is one unit wide). The total and each bucket's counts are in the title for a screen reader.
 */
export function LogHistogram({ answer }: { answer: LogHistogramAnswer }) {
  const { t } = useI18n();
  const { buckets } = answer;
  const peak = Math.max(1, ...buckets.map((b) => b.count));
  const total = buckets.reduce((n, b) => n + b.count, 0);
  return (
    <figure className="logs-histogram" data-testid="logs-histogram" data-total={total} data-buckets={buckets.length}>
      <figcaption>
        {t('logs.histogram', stepText(answer.stepMs))} · {t('logs.histogramTotal', String(total))}
      </figcaption>
      <svg
        viewBox={`0 0 ${Math.max(1, buckets.length)} 100`}
        preserveAspectRatio="none"
        role="img"
        aria-label={t('logs.histogramTotal', String(total))}
      >
        {buckets.map((b, i) => {
          let y = 100;
          return (
            <g key={b.t}>
              <title>{`${new Date(b.t).toLocaleString()}: ${b.count}`}</title>
              {STACK.map((level) => {
                const n = b.levels[level] ?? 0;
                if (!n) return null;
                const h = (n / peak) * 100;
                y -= h;
                return <rect key={level} className={`bar level-${level}`} x={i + 0.1} y={y} width={0.8} height={h} />;
              })}
            </g>
          );
        })}
      </svg>
    </figure>
  );
}
