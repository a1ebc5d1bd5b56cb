/** docs/options.md is generated from the option tables: it must say what the tables say. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { REFERENCE, renderOptionsReference } from '../../docs/build-options.js';

describe('docs/options.md', () => {
  it('is up to date with the option tables (else run `npm run docs:options`)', () => {
    expect(readFileSync(REFERENCE, 'utf8'), 'docs/options.md is behind the option tables: run `npm run docs:options`').toBe(renderOptionsReference());
  });

  it('has one table per family, one row per option', () => {
    const text = renderOptionsReference();
    expect(text.match(/^## /gm)).toHaveLength(4);
    expect(text).toContain('| `maxQueue` | `WARMPOOL_MAX_QUEUE` | `--max-queue <n>` | `1024` | an integer from 0 to 9007199254740991 |');
    expect(text).not.toMatch(/faultInjection|WARMPOOL_FAULTS|WARMPOOL_TEST/);
  });
});
