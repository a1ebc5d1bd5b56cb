/**
 * Turning a folder of text files into documents: walk it for `.txt` and `.md` files, split each
 * into passages of a few sentences, and give each passage a stable id (`path#n`), so indexing the
 * same folder again replaces passages instead of duplicating them.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { Doc, IndexStreamOptions } from './types.js';

export interface ChunkOptions {
  /** Most words in a passage. @default 60 */
  maxWords?: number;
}

export interface Passage extends Doc {
  metadata: { source: string; chunk: number };
}

const EXTENSIONS = new Set(['.txt', '.md']);

/** Files under `root` with a .txt or .md extension, sorted, hidden folders skipped. */
export async function listTextFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true });
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      if (e.name.startsWith('.') || e.name === 'node_modules') continue;
      const path = join(dir, e.name);
      if (e.isDirectory()) await walk(path);
      else if (e.isFile() && EXTENSIONS.has(e.name.slice(e.name.lastIndexOf('.')).toLowerCase())) out.push(path);
    }
  };
  await walk(root);
  return out;
}

/**
 * Splits text into passages: paragraphs (blank-line separated) are joined while they fit in
 * `maxWords`; a longer paragraph is cut at sentence ends, and a sentence longer still at words.
 */
export function chunkText(text: string, options: ChunkOptions = {}): string[] {
  const maxWords = options.maxWords ?? 60;
  const words = (s: string): number => s.split(/\s+/).filter(Boolean).length;
  const pieces: string[] = [];
  for (const para of text.split(/\n\s*\n/)) {
    // Markdown markup carries no meaning for the model.
    const clean = para.replace(/^#+\s*/gm, '').replace(/[*_`>]+/g, '').replace(/\s+/g, ' ').trim();
    if (!clean) continue;
    if (words(clean) <= maxWords) {
      pieces.push(clean);
      continue;
    }
    for (const sentence of clean.split(/(?<=[.!?])\s+/)) {
      const w = sentence.split(' ');
      for (let i = 0; i < w.length; i += maxWords) pieces.push(w.slice(i, i + maxWords).join(' '));
    }
  }
  const passages: string[] = [];
  let current = '';
  for (const piece of pieces) {
    if (current && words(current) + words(piece) > maxWords) {
      passages.push(current);
      current = piece;
    } else {
      current = current ? `${current} ${piece}` : piece;
    }
  }
  if (current) passages.push(current);
  return passages;
}

/** Every passage of every text file under `root`, one file at a time (memory stays small). */
export async function* readCorpus(root: string, options: ChunkOptions = {}): AsyncGenerator<Passage> {
  for (const file of await listTextFiles(root)) {
    const source = relative(root, file).split(sep).join('/');
    const passages = chunkText(await readFile(file, 'utf8'), options);
    for (let chunk = 0; chunk < passages.length; chunk++) {
      yield { id: `${source}#${chunk}`, text: passages[chunk]!, metadata: { source, chunk } };
    }
  }
}

/** What {@link indexFolder} needs of a pool. */
export interface StreamIndexer {
  indexStream(source: AsyncIterable<Doc>, options: IndexStreamOptions): Promise<{ count: number; batches: number }>;
}

/** Where {@link indexFolder} stands after a durable batch. */
export interface FolderProgress {
  /** Passages written so far. */
  passages: number;
  /** Files whose passages are all written. */
  filesDone: number;
  /** Text files found in the folder. */
  filesTotal: number;
  elapsedMs: number;
}

/**
 * Indexes every passage of a folder's text files into a collection, calling `onProgress` with a
 * one-line status, and the same figures as numbers, after each durable batch.
 */
export async function indexFolder(
  pool: StreamIndexer,
  root: string,
  collection: string,
  onProgress: (line: string, progress: FolderProgress) => void,
): Promise<{ passages: number; files: number; seconds: number }> {
  const started = performance.now();
  const files = await listTextFiles(root);
  const sources = new Set<string>();
  // Passages yielded before each file's end: a file is done once that many passages are written.
  const fileEnds: number[] = [];
  let yielded = 0;
  const passages = (async function* () {
    let current: string | undefined;
    for await (const p of readCorpus(root)) {
      if (p.metadata.source !== current) {
        if (current !== undefined) fileEnds.push(yielded);
        current = p.metadata.source;
      }
      sources.add(p.metadata.source);
      yielded++;
      yield p;
    }
    if (current !== undefined) fileEnds.push(yielded);
  })();
  const { count } = await pool.indexStream(passages, {
    collection,
    batchSize: 128,
    onProgress: (p) => {
      let filesDone = 0;
      while (filesDone < fileEnds.length && fileEnds[filesDone]! <= p.indexed) filesDone++;
      onProgress(`indexed ${p.indexed} passages from ${sources.size}/${files.length} files (${(p.elapsedMs / 1000).toFixed(1)} s)`, {
        passages: p.indexed,
        filesDone,
        filesTotal: files.length,
        elapsedMs: p.elapsedMs,
      });
    },
  });
  return { passages: count, files: files.length, seconds: (performance.now() - started) / 1000 };
}
