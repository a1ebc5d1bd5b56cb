#!/usr/bin/env node
// Which lines of a file are closest in meaning to a query?
// Run: node examples/cli/nearest.mjs "a query" some-file.txt [k]
import { readFileSync } from 'node:fs';
import { createPool } from 'warmpool';

const [query, file, k = '3'] = process.argv.slice(2);
if (!query || !file) {
  console.error('usage: nearest.mjs <query> <file> [k]');
  process.exit(2);
}
const lines = readFileSync(file, 'utf8').split('\n').filter((line) => line.trim() !== '');

const pool = createPool();
const [q, ...docs] = await pool.embed([query, ...lines]);
await pool.close();
const scored = docs.map((d, i) => {
  let cosine = 0;
  for (let j = 0; j < d.length; j++) cosine += q[j] * d[j];
  return { line: lines[i], cosine };
});
scored.sort((a, b) => b.cosine - a.cosine);
for (const { line, cosine } of scored.slice(0, Number(k))) console.log(`${cosine.toFixed(3)}  ${line}`);
