/**
 * Writes `tokenizer.warmpool.json` (the vocabulary prebuilt for fast loading: see
 * workers/prebuilt-tokenizer.ts) into each model folder given, or into the bundled models:
 *
 *   npx tsx models/build-tokenizers.ts [folder...]
 *
 * Run again whenever a folder's tokenizer.json changes (until then, workers load it the slow way).
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PREBUILT_TOKENIZER, prebuildTokenizer } from '../workers/prebuilt-tokenizer.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const folders = process.argv.length > 2 ? process.argv.slice(2) : ['glove-100d', 'glove-rerank'].map((name) => join(here, name));
for (const folder of folders) {
  console.log(prebuildTokenizer(folder) ? `wrote ${join(folder, PREBUILT_TOKENIZER)}` : `${folder}: not a WordPiece tokenizer with ids 0..n-1; nothing written`);
}
