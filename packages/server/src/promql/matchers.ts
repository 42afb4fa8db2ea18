/** Label matchers of selectors and match[] parameters, regexes anchored and run on RE2 (linear time). */
import { RE2JS } from 're2js';
import type { LabelMatcher } from './ast.ts';
import { PromQLError } from './engine.ts';

export interface CompiledMatcher extends LabelMatcher {
  test(value: string | undefined): boolean;
}

export function compileMatchers(ms: readonly LabelMatcher[]): CompiledMatcher[] {
  return ms.map((m) => {
    switch (m.op) {
      case '=':
        return { ...m, test: (v: string | undefined) => (v ?? '') === m.value };
      case '!=':
        return { ...m, test: (v: string | undefined) => (v ?? '') !== m.value };
      default: {
        let re: RE2JS;
        try {
          re = RE2JS.compile(`^(?:${m.value})$`);
        } catch (err) {
          throw new PromQLError('bad_data', `${m.name}${m.op}"${m.value}": not a regular expression (${(err as Error).message})`);
        }
        const want = m.op === '=~';
        return { ...m, test: (v: string | undefined) => re.matches(v ?? '') === want };
      }
    }
  });
}
