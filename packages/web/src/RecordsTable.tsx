import type { ReactNode } from 'react';
import { type MessageKey, useI18n } from './i18n.tsx';

/**
 * A table of records, as the alert, task and settings pages list them: translated column
 * headings (none over a column of buttons) and a row per item.
 */
export function RecordsTable<T>({
  className,
  columns,
  items,
  row,
  after,
}: {
  className: string;
  columns: (MessageKey | '')[];
  items: readonly T[];
  row: (item: T) => ReactNode;
  /** Rendered after the rows, e.g. a row saying there are none. */
  after?: ReactNode;
}) {
  const { t } = useI18n();
  return (
    // On a phone a wide table scrolls sideways in its own box (phone.css): focusable, so a keyboard can scroll it too.
    // biome-ignore lint/a11y/noNoninteractiveTabindex: a scroll container must be reachable without a pointer
    <table className={className} tabIndex={0}>
      <thead>
        <tr>
          {columns.map((c, i) => (
            // biome-ignore lint/suspicious/noArrayIndexKey: the columns are fixed, and button columns have no heading to key by
            <th key={i} scope="col">
              {c ? t(c) : null}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {items.map(row)}
        {after}
      </tbody>
    </table>
  );
}
