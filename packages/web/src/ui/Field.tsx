import type { ReactNode } from 'react';

/**
 * One labelled form control: the label above, the control, then help or an error below. The
 * control is the label's child, so clicking the label focuses it and screen readers name it.
 */
export function Field({
  label,
  help,
  error,
  wide,
  className,
  children,
}: {
  label: ReactNode;
  help?: ReactNode;
  error?: ReactNode;
  wide?: boolean;
  className?: string;
  children: ReactNode;
}) {
  return (
    // biome-ignore lint/a11y/noLabelWithoutControl: the control is the label's child, handed in by the caller
    <label className={['field', wide ? 'field-wide' : '', error ? 'field-invalid' : '', className ?? ''].filter(Boolean).join(' ')}>
      <span className="field-label">{label}</span>
      {children}
      {error ? <small className="field-error">{error}</small> : help ? <small className="field-help">{help}</small> : null}
    </label>
  );
}

/** A form's error or notice line: an error is announced (role="alert"). */
export function FormMessage({ error, notice, testid }: { error?: string | undefined; notice?: string | undefined; testid?: string }) {
  if (error) {
    return (
      <p role="alert" className="form-error" data-testid={testid}>
        {error}
      </p>
    );
  }
  return notice ? (
    <p className="form-notice" role="status">
      {notice}
    </p>
  ) : null;
}
