// Usage: node examples/custom-task/main.mjs <word> [<word>...]
// Starts a pool with the default embedding model and a custom model (word-vectors.mjs) beside
// it, looks up each word's vector through the custom model (concurrent calls share one model
// run), and prints the cosine of every word with the first.
import { fileURLToPath } from 'node:url';
import { createPool } from 'warmpool';

const words = process.argv.slice(2);
if (words.length === 0) {
  console.error('usage: node examples/custom-task/main.mjs <word> [<word>...]');
  process.exit(2);
}

const pool = createPool({
  threads: 2,
  models: {
    words: {
      task: 'custom',
      module: new URL('./word-vectors.mjs', import.meta.url).href,
      options: { folder: fileURLToPath(new URL('../../models/glove-100d', import.meta.url)) },
      threads: 1,
    },
  },
});
try {
  const vectors = await Promise.all(words.map((w) => pool.run('words', w)));
  const first = vectors[0];
  for (let i = 0; i < words.length; i++) {
    const v = vectors[i];
    if (!first || !v) {
      console.log(`${words[i]}\tnot in the vocabulary`);
      continue;
    }
    let dot = 0, a = 0, b = 0;
    for (let k = 0; k < v.length; k++) { dot += first[k] * v[k]; a += first[k] ** 2; b += v[k] ** 2; }
    console.log(`${words[i]}\t${(dot / Math.sqrt(a * b)).toFixed(3)}`);
  }
} finally {
  await pool.close();
}
