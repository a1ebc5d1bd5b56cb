import type { SearchHit } from '../collections/types.js';

/** Prints search hits as numbered lines: score, id, and the start of the passage. */
export function printHits(hits: SearchHit[]): void {
  if (hits.length === 0) process.stdout.write('  (no hits)\n');
  hits.forEach((hit, i) => {
    const text = hit.text && hit.text.length > 160 ? `${hit.text.slice(0, 157)}...` : (hit.text ?? '');
    process.stdout.write(`  ${i + 1}. ${hit.score.toFixed(3)}  ${hit.id}\n     ${text}\n`);
  });
}
