/**
 * Rebuilds the retrieval sets of bench/retrieval/eval.ts from real text on this machine,
 * written by no one in this project:
 *
 * - `docstrings.json`: Python standard-library docstrings (models/eval-docstrings.py: query = a
 *   function's one-line summary, document = the rest of its docstring, the function's name removed
 *   from both). Only the held-out part (the candidates NOT among the 1000 that models/eval-rerank.ts
 *   used to choose glove-rerank's scoring), so the reranker is not evaluated on its own tuning text.
 * - `debian.json`: descriptions of the installed Debian packages (`dpkg-query`): query = the
 *   one-line synopsis, document = the long description, the package's name removed from both.
 *   Synopses or documents seen twice (library/-dev twins often share them) are dropped, as are
 *   synopses under 3 words and documents under 10.
 *
 *   npx tsx bench/retrieval/build-sets.ts [--python-lib /usr/lib/python3.11]
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ROOT } from '../lib/paths.js';
import { type RetrievalSet, type SetItem, SETS_DIR } from './sets.js';

const { values: args } = parseArgs({ options: { 'python-lib': { type: 'string', default: '/usr/lib/python3.11' } } });

/** models/eval-rerank.ts's default --limit: the candidates it tuned on, left out here. */
const RERANK_TUNING_LIMIT = '1000';

function docstringSet(): RetrievalSet {
  const raw = execFileSync('/usr/bin/python3', [`${ROOT}models/eval-docstrings.py`, args['python-lib'], RERANK_TUNING_LIMIT, 'holdout'], {
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  });
  const { candidates, items } = JSON.parse(raw) as { candidates: number; items: SetItem[] };
  return {
    name: 'docstrings',
    source: `${args['python-lib']} docstrings via models/eval-docstrings.py, held-out part (${items.length} of ${candidates} candidates; the other ${RERANK_TUNING_LIMIT} tuned glove-rerank)`,
    items,
  };
}

function debianSet(): RetrievalSet {
  const raw = execFileSync('dpkg-query', ['-W', '-f=${Package}\t${Description}\n@@@\n'], { encoding: 'utf8', maxBuffer: 1 << 28 });
  const all: SetItem[] = [];
  for (const rec of raw.split('\n@@@\n')) {
    if (!rec.trim()) continue;
    const nl = rec.indexOf('\n');
    const head = nl < 0 ? rec : rec.slice(0, nl);
    const body = nl < 0 ? '' : rec.slice(nl + 1);
    const [pkg = '', synopsis = ''] = head.split('\t');
    // The package name (and the name without a lib prefix or version suffix) would give the answer away.
    const names = new Set([pkg, pkg.replace(/^lib/, ''), pkg.replace(/[\d.-]+$/, ''), pkg.replace(/^lib/, '').replace(/[\d.-]+$/, '')].filter((n) => n.length >= 3));
    const esc = [...names].map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).sort((a, b) => b.length - a.length);
    const pat = new RegExp(`(?<![\\p{L}\\p{N}])(?:${esc.join('|')})(?![\\p{L}\\p{N}])`, 'giu');
    const strip = (s: string) => s.replace(pat, ' ').replace(/[ \t]+/g, ' ').trim();
    const lines = body
      .split('\n')
      .map((l) => (l.startsWith(' ') ? l.slice(1) : l))
      .filter((l) => l.trim() && l.trim() !== '.')
      .map(strip)
      .filter(Boolean);
    all.push({ id: pkg, query: strip(synopsis), doc: lines.join('\n') });
  }
  const count = <T>(xs: T[]) => xs.reduce((m, x) => m.set(x, (m.get(x) ?? 0) + 1), new Map<T, number>());
  const qc = count(all.map((i) => i.query.toLowerCase()));
  const dc = count(all.map((i) => i.doc));
  const items = all
    .filter((i) => qc.get(i.query.toLowerCase()) === 1 && dc.get(i.doc) === 1)
    .filter((i) => i.query.split(/\s+/).length >= 3 && i.doc.split(/\s+/).length >= 10)
    .sort((a, b) => (a.id < b.id ? -1 : 1));
  return { name: 'debian', source: `descriptions of the ${all.length} installed Debian packages (dpkg-query), ${items.length} clean pairs`, items };
}

for (const set of [docstringSet(), debianSet()]) {
  const path = `${SETS_DIR}${set.name}.json`;
  const text = JSON.stringify(set, null, 0);
  writeFileSync(path, text + '\n');
  console.log(`${path}: ${set.items.length} pairs, ${(text.length / 1024).toFixed(0)} KiB (${set.source})`);
}
