import { isValidLabelName } from '@falconet/protocol';

/**
 * Trusted labels: set on the server side or fixed in an agent's token, never declared by the agent
 * itself. Only these choose agents for label-targeted tasks (docs/tasks.md).
 */
export type Labels = Record<string, string>;

export const MAX_TRUSTED_LABELS = 32;
export const MAX_LABEL_VALUE = 256;

/** What is wrong with a set of trusted labels, naming the label; undefined when nothing is. */
export function trustedLabelsProblem(labels: Labels): string | undefined {
  const entries = Object.entries(labels);
  if (entries.length > MAX_TRUSTED_LABELS) return `${entries.length} labels; at most ${MAX_TRUSTED_LABELS}`;
  for (const [k, v] of entries) {
    if (!isValidLabelName(k)) return `label "${k.slice(0, 80)}": not a label name (letters, digits and _, not starting with a digit or __)`;
    if (typeof v !== 'string') return `label "${k}": the value must be a string`;
    if (v.length > MAX_LABEL_VALUE) return `label "${k}": the value is ${v.length} characters; at most ${MAX_LABEL_VALUE}`;
  }
  return undefined;
}

/** `role=db,zone=a` -> {role: 'db', zone: 'a'}; throws naming the part it cannot read. */
export function parseLabelList(text: string): Labels {
  const labels: Labels = {};
  for (const part of text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new Error(`"${part}": expected NAME=VALUE`);
    labels[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  const problem = trustedLabelsProblem(labels);
  if (problem) throw new Error(problem);
  return labels;
}

/** The labels that choose an agent for tasks: the token's, overridden by the server's; "" removes one. */
export function effectiveTrustedLabels(tokenLabels: Labels | undefined, serverLabels: Labels | undefined): Labels {
  const out: Labels = {};
  for (const [k, v] of Object.entries({ ...tokenLabels, ...serverLabels })) if (v !== '') out[k] = v;
  return out;
}
