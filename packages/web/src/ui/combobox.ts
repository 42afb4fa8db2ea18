import { type KeyboardEvent, type MouseEvent, useId, useState } from 'react';

/**
 * A text input with a list of suggestions under it (the ARIA combobox pattern): the list opens on
 * focus and typing, arrows move through it, Enter takes the active item, Escape closes it, and a
 * mouse press takes an item before the input's blur closes the list.
 * `firstActive` is the item active after typing: 0 to take the first on Enter, -1 to take none;
 * `showEmpty`: the list shows (saying nothing matched) even with no items.
 */
export function useCombobox<T>(
  items: readonly T[],
  onPick: (item: T) => void,
  { firstActive = -1, showEmpty = false }: { firstActive?: 0 | -1; showEmpty?: boolean } = {},
) {
  const id = useId();
  const [open, setOpen] = useState(false);
  const [active, setActive] = useState<number>(firstActive);
  const listId = `${id}-list`;
  const expanded = open && (items.length > 0 || showEmpty);
  const pick = (item: T) => {
    onPick(item);
    setOpen(false);
    setActive(firstActive);
  };
  return {
    /** Whether the list is shown. */
    expanded,
    listId,
    /** After the input's text changed: the list opens with its first choice active, or none. */
    typed() {
      setOpen(true);
      setActive(firstActive);
    },
    /** The input's role, ARIA state and handlers. */
    input: {
      role: 'combobox' as const,
      'aria-expanded': expanded,
      'aria-controls': listId,
      'aria-autocomplete': 'list' as const,
      'aria-activedescendant': open && items[active] !== undefined ? `${id}-${active}` : undefined,
      autoComplete: 'off',
      onFocus: () => setOpen(true),
      onBlur: () => setOpen(false),
      onKeyDown: (e: KeyboardEvent<HTMLInputElement>) => {
        if (e.key === 'ArrowDown') {
          e.preventDefault();
          setOpen(true);
          setActive((i) => Math.min(items.length - 1, i + 1));
        } else if (e.key === 'ArrowUp') {
          e.preventDefault();
          setActive((i) => Math.max(0, i - 1));
        } else if (e.key === 'Enter' && open && items[active] !== undefined) {
          e.preventDefault();
          pick(items[active] as T);
        } else if (e.key === 'Escape') setOpen(false);
      },
    },
    /** The props of the list's i-th item. */
    option: (i: number, item: T) => ({
      id: `${id}-${i}`,
      role: 'option' as const,
      tabIndex: -1,
      'aria-selected': i === active,
      className: i === active ? 'active' : undefined,
      onMouseDown: (e: MouseEvent) => {
        e.preventDefault();
        pick(item);
      },
    }),
  };
}
