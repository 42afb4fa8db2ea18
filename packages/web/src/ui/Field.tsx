import { cloneElement, isValidElement, type ReactElement, type ReactNode, useId } from 'react';

const CONTROLS = ['input', 'select', 'textarea'];

/**
 * One labelled form control: the label above, the control (with a unit after it, if any), then
 * help or an error below. A plain input, select or textarea is tied to its label by id and to its
 * help by aria-describedby, so its name is the label alone; anything else is wrapped by the label.
 */
export function Field({
  label,
  help,
  error,
  suffix,
  wide,
  className,
  children,
}: {
  label: ReactNode;
  help?: ReactNode;
  error?: ReactNode;
  /** A unit written after the control: `%`, `s`. */
  suffix?: ReactNode;
  wide?: boolean;
  className?: string;
  children: ReactNode;
}) {
  const id = useId();
  const noteId = `${id}-note`;
  const note = error ?? help;
  const classes = ['field', wide ? 'field-wide' : '', error ? 'field-invalid' : '', className ?? ''].filter(Boolean).join(' ');
  const plain = isValidElement(children) && typeof children.type === 'string' && CONTROLS.includes(children.type);
  const control = plain
    ? cloneElement(children as ReactElement<Record<string, unknown>>, {
        id,
        'aria-describedby': note ? noteId : undefined,
        'aria-invalid': error ? true : undefined,
      })
    : children;
  const body = suffix ? (
    <span className="with-unit">
      {control}
      <span className="unit">{suffix}</span>
    </span>
  ) : (
    control
  );
  return (
    <div className={classes}>
      {plain ? (
        <>
          <label className="field-label" htmlFor={id}>
            {label}
          </label>
          {body}
        </>
      ) : (
        // biome-ignore lint/a11y/noLabelWithoutControl: the control is the label's child, handed in by the caller
        <label className="field-control">
          <span className="field-label">{label}</span>
          {body}
        </label>
      )}
      {note ? (
        <small id={noteId} className={error ? 'field-error' : 'field-help'}>
          {note}
        </small>
      ) : null}
    </div>
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
