/**
 * Real text of varied length for the rerank benchmarks: docstrings of the Python standard
 * library found on this machine (`/usr/lib/python3.*`), read with a small extractor (the
 * triple-quoted strings of each module, whitespace collapsed). A machine without one gets
 * synthetic texts of the same spread of lengths (see `source`).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { textOf } from './texts.js';

export interface DocSet {
  /** Where the texts came from, for the JSON and the report. */
  source: string;
  texts: string[];
}

function pythonLib(): string | undefined {
  if (!existsSync('/usr/lib')) return undefined;
  const dirs = readdirSync('/usr/lib').filter((d) => /^python3\.\d+$/.test(d)).sort();
  return dirs.length ? `/usr/lib/${dirs.at(-1)}` : undefined;
}

/**
 * `count` distinct docstrings of `minChars` to `maxChars` characters (a longer one is cut at a
 * word boundary), taken in a fixed order from the top-level modules so every run sees the same.
 */
export function docstrings(count: number, minChars = 60, maxChars = 600): DocSet {
  const lib = pythonLib();
  const out: string[] = [];
  const seen = new Set<string>();
  if (lib) {
    const files = readdirSync(lib).filter((f) => f.endsWith('.py')).sort();
    // One pass takes at most a few docstrings from each module, so the set spans many topics.
    for (let pass = 0; pass < 8 && out.length < count; pass++) {
      for (const file of files) {
        if (out.length >= count) break;
        let source: string;
        try {
          source = readFileSync(`${lib}/${file}`, 'utf8');
        } catch {
          continue;
        }
        const found = [...source.matchAll(/"""([\s\S]*?)"""/g)].map((m) => m[1]!.replace(/\s+/g, ' ').trim());
        const usable = found.filter((t) => t.length >= minChars && /[a-z]{3}/i.test(t));
        const text = usable[pass];
        if (!text) continue;
        const cut = text.length > maxChars ? text.slice(0, text.lastIndexOf(' ', maxChars)) : text;
        if (seen.has(cut)) continue;
        seen.add(cut);
        out.push(cut);
      }
    }
  }
  if (out.length >= count) return { source: `docstrings of ${lib} (${minChars}-${maxChars} characters)`, texts: out };
  // No Python library here: synthetic texts of 15 to 150 tokens.
  return { source: 'synthetic texts (no Python standard library found)', texts: Array.from({ length: count }, (_, i) => textOf(15 + ((i * 37) % 136), i + 1)) };
}
