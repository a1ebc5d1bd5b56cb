/**
 * No import circle in src/ or workers/: shared types live in src/types.ts, which imports nothing,
 * so no file has to import "up". Read from the TypeScript sources' import and export-from lines,
 * type-only ones included (a circle of types is a circle for a reader too).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers.js';

const SPECIFIER = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|(?:^|\n)\s*import\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) sources(path, out);
    else if (path.endsWith('.ts') && !path.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** Each file's local imports, as files. */
function importGraph(dirs: string[]): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of dirs.flatMap((d) => sources(d))) {
    const deps = new Set<string>();
    for (const m of readFileSync(file, 'utf8').matchAll(SPECIFIER)) {
      const spec = m[1] ?? m[2] ?? m[3]!;
      if (!spec.startsWith('.')) continue;
      const target = resolve(dirname(file), spec.replace(/\.js$/, '.ts'));
      if (existsSync(target)) deps.add(target);
    }
    graph.set(file, [...deps]);
  }
  return graph;
}

/** The strongly connected components of more than one file, or of a file that imports itself (Tarjan). */
function circles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || graph.get(v)!.includes(v)) found.push(component);
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

describe('imports', () => {
  const graph = importGraph([join(ROOT, 'src'), join(ROOT, 'workers')]);

  it('form no circle in src/ or workers/', () => {
    expect(circles(graph).map((c) => c.map((f) => relative(ROOT, f)).sort())).toEqual([]);
  });

  it('are none in src/types.ts', () => {
    expect(graph.get(join(ROOT, 'src', 'types.ts'))).toEqual([]);
    expect(readFileSync(join(ROOT, 'src', 'types.ts'), 'utf8')).not.toMatch(/^\s*import\b/m);
  });

  it('are read from the sources (a check that finds none would pass any tree)', () => {
    expect(graph.size).toBeGreaterThan(50);
    expect(graph.get(join(ROOT, 'src', 'runner.ts'))).toContain(join(ROOT, 'src', 'dispatcher.ts'));
  });
});
