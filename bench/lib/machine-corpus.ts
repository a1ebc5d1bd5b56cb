/**
 * Real text of this machine that warmpool did not write, in paragraphs: the manual pages
 * (/usr/share/man/man*, roff markup dropped), the package documentation (/usr/share/doc, plain or
 * gzipped) and the Python standard library's docstrings (/usr/lib/python3.*). Files are read in
 * sorted order and paragraphs shuffled with a fixed seed, so every run on the same machine gets
 * the same corpus; duplicates (licence texts repeat in every package) are kept once.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { rng } from '../synthetic-text.js';

export interface Corpus {
  /** Where the paragraphs came from, with their counts, for the JSON and the report. */
  sources: Record<string, number>;
  paragraphs: string[];
}

const MIN_CHARS = 40;
const MAX_CHARS = 800;

function* files(dir: string, depth = 0): Generator<string> {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return;
  }
  for (const name of names) {
    const path = join(dir, name);
    let st;
    try {
      st = statSync(path);
    } catch {
      continue;
    }
    if (st.isDirectory() && depth < 6) yield* files(path, depth + 1);
    else if (st.isFile() && st.size < 4 << 20) yield path;
  }
}

function read(path: string): string | undefined {
  try {
    const raw = readFileSync(path);
    const buf = path.endsWith('.gz') ? gunzipSync(raw) : raw;
    // Binary files (images, compiled objects) are skipped.
    if (buf.subarray(0, 4096).includes(0)) return undefined;
    return buf.toString('utf8');
  } catch {
    return undefined;
  }
}

/** Roff source to plain paragraphs: a request line (`.PP`, `.SH` ...) ends a paragraph; inline escapes are dropped. */
function roffText(src: string): string[] {
  const out: string[] = [];
  let para: string[] = [];
  const flush = () => {
    if (para.length) out.push(para.join(' '));
    para = [];
  };
  for (const line of src.split('\n')) {
    if (line.startsWith('.') || line.startsWith("'")) {
      // Font requests carry text (".B word"); the rest are layout.
      const m = /^\.(?:B|I|BR|BI|IR|IB|RB|RI)\s+(.*)$/.exec(line);
      if (m) para.push(m[1]!.replace(/"/g, ''));
      else flush();
      continue;
    }
    if (line.trim() === '') {
      flush();
      continue;
    }
    para.push(
      line
        .replace(/\\f(?:\[[^\]]*\]|\(..|.)/g, '')
        .replace(/\\\(..|\\\[[^\]]*\]/g, ' ')
        .replace(/\\-/g, '-')
        .replace(/\\[&e|^]/g, '')
        .replace(/\\(.)/g, '$1'),
    );
  }
  flush();
  return out;
}

const blankLines = (text: string): string[] => text.split(/\n\s*\n/);

function docstringParagraphs(source: string): string[] {
  const out: string[] = [];
  for (const m of source.matchAll(/("""|''')([\s\S]*?)\1/g)) out.push(...blankLines(m[2]!));
  return out;
}

/** Whitespace collapsed; undefined unless it reads as prose of a useful length. */
function clean(p: string): string | undefined {
  const t = p.replace(/\s+/g, ' ').trim();
  if (t.length < MIN_CHARS || t.length > MAX_CHARS) return undefined;
  const letters = t.match(/\p{L}/gu)?.length ?? 0;
  if (letters < t.length * 0.6 || t.split(' ').length < 6) return undefined;
  return t;
}

/**
 * At most `count` distinct paragraphs, shuffled (seeded). The manual pages and the package
 * documentation give at most 60% of them each (reading stops there), the docstrings the rest.
 */
export function machineCorpus(count: number, seed = 1): Corpus {
  /** Paragraph -> its source. */
  const seen = new Map<string, string>();
  const found: Record<string, number> = {};
  const cap = Math.ceil(count * 0.6);
  const full = (source: string) => (found[source] ?? 0) >= cap;
  const add = (source: string, ps: string[]) => {
    for (const p of ps) {
      if (full(source)) return;
      const t = clean(p);
      if (t === undefined || seen.has(t)) continue;
      seen.set(t, source);
      found[source] = (found[source] ?? 0) + 1;
    }
  };
  // The English pages (man1 ... man8); translations live in folders named by language.
  let sections: string[] = [];
  try {
    sections = readdirSync('/usr/share/man').filter((d) => /^man\w+$/.test(d)).sort();
  } catch {
    // no manual pages
  }
  for (const section of sections) {
    for (const path of files(`/usr/share/man/${section}`)) {
      if (full('/usr/share/man')) break;
      const text = read(path);
      if (text) add('/usr/share/man', roffText(text));
    }
  }
  for (const path of files('/usr/share/doc')) {
    if (full('/usr/share/doc')) break;
    const text = read(path);
    if (text) add('/usr/share/doc', blankLines(text));
  }
  let libs: string[] = [];
  try {
    libs = readdirSync('/usr/lib').filter((d) => /^python3\.\d+$/.test(d)).sort();
  } catch {
    // no Python on this machine
  }
  for (const lib of libs) {
    for (const path of files(`/usr/lib/${lib}`)) {
      if (!path.endsWith('.py')) continue;
      const text = read(path);
      if (text) add(`/usr/lib/${lib} docstrings`, docstringParagraphs(text));
    }
  }
  const paragraphs = [...seen.keys()];
  const rand = rng(seed);
  for (let i = paragraphs.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [paragraphs[i], paragraphs[j]] = [paragraphs[j]!, paragraphs[i]!];
  }
  const kept = paragraphs.slice(0, count);
  const sources: Record<string, number> = {};
  for (const p of kept) sources[seen.get(p)!] = (sources[seen.get(p)!] ?? 0) + 1;
  return { sources, paragraphs: kept };
}
