/**
 * The README and the pages in docs/ link to each other and to files of the repository by relative
 * paths; a page moved or renamed, or a heading reworded, breaks them silently. Every relative link
 * must point to a file or folder that exists, inside the repository, and a link to a heading of a
 * markdown page must name a heading that page has (by GitHub's rule for heading anchors).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Pages written by another step (the option reference is generated from the option table); a link to one is checked once it exists. */
const GENERATED = new Set(['docs/options.md']);

const PAGES = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

/** The markdown outside fenced code blocks, with inline code spans blanked (a span is text, not a link). */
function prose(markdown: string): string[] {
  const lines: string[] = [];
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*```/.test(line)) {
      fenced = !fenced;
      lines.push('');
      continue;
    }
    lines.push(fenced ? '' : line.replace(/`[^`\n]*`/g, '``'));
  }
  return lines;
}

interface Link {
  page: string;
  line: number;
  target: string;
}

function linksOf(page: string): Link[] {
  const out: Link[] = [];
  prose(readFileSync(join(ROOT, page), 'utf8')).forEach((text, i) => {
    for (const m of text.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) out.push({ page, line: i + 1, target: m[1]! });
  });
  return out;
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens; repeats get -1, -2, ... */
function slugs(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*```/.test(line)) fenced = !fenced;
    const m = fenced ? null : /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const text = m[1]!.replace(/\[([^\]]*)\]\([^)]*\)/g, '$1');
    const base = text
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '')
      .replace(/ /g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

const isExternal = (target: string): boolean => /^[a-z][a-z0-9+.-]*:/i.test(target);

function problem(link: Link): string | undefined {
  const [pathPart, anchor] = link.target.split('#', 2) as [string, string | undefined];
  const file = pathPart === '' ? join(ROOT, link.page) : resolve(ROOT, dirname(link.page), decodeURIComponent(pathPart));
  const fromRoot = relative(ROOT, file).split('\\').join('/');
  if (fromRoot.startsWith('..')) return 'points outside the repository';
  if (!existsSync(file)) return GENERATED.has(fromRoot) ? undefined : `${fromRoot} does not exist`;
  if (anchor === undefined || anchor === '') return undefined;
  if (!file.endsWith('.md') || statSync(file).isDirectory()) return `an anchor on ${fromRoot}, which has no headings`;
  if (!slugs(readFileSync(file, 'utf8')).has(anchor)) return `${fromRoot} has no heading #${anchor}`;
  return undefined;
}

describe('relative links in README.md and docs/', () => {
  it('finds the pages and their links', () => {
    expect(PAGES).toContain('README.md');
    expect(PAGES).toContain('docs/README.md');
    expect(PAGES.flatMap(linksOf).filter((l) => !isExternal(l.target)).length).toBeGreaterThan(50);
  });

  it('makes anchors as GitHub does', () => {
    const s = slugs('# `pool.close({ timeout }?)`, `await using`\n## Rolling reload: `pool.reload()`\n## Memory\n### Memory\n```sh\n# not a heading\n```');
    expect([...s]).toEqual(['poolclose-timeout--await-using', 'rolling-reload-poolreload', 'memory', 'memory-1']);
  });

  it.each(PAGES)('%s: every relative link points to a file that exists, and every anchor to a heading', (page) => {
    const broken = linksOf(page)
      .filter((l) => !isExternal(l.target))
      .map((l) => ({ l, why: problem(l) }))
      .filter(({ why }) => why !== undefined)
      .map(({ l, why }) => `${l.page}:${l.line} (${l.target}): ${why}`);
    expect(broken).toEqual([]);
  });
});
