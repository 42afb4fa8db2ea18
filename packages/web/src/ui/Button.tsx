import type { ButtonHTMLAttributes } from 'react';

export type ButtonVariant = 'primary' | 'secondary' | 'danger' | 'ghost';

export interface ButtonProps extends ButtonHTMLAttributes<HTMLButtonElement> {
  variant?: ButtonVariant;
  small?: boolean;
  /** Work under way: the button is disabled and says so (aria-busy), its label kept. */
  busy?: boolean;
}

/** The dashboard's one button: primary (the form's action), secondary, danger (removes something), ghost (in tables). */
export function Button({ variant = 'secondary', small, busy, disabled, className, type = 'button', children, ...rest }: ButtonProps) {
  const classes = ['btn', `btn-${variant}`, small ? 'btn-small' : '', busy ? 'btn-busy' : '', className ?? ''].filter(Boolean).join(' ');
  return (
    <button type={type} className={classes} disabled={disabled || busy} aria-busy={busy || undefined} {...rest}>
      {children}
    </button>
  );
}
