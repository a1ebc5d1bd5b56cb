/**
 * Writes REPORT.md and one SVG per chart from the JSON results in a folder. Runs after the
 * suite, and can be rerun alone on saved results: `tsx bench/report.ts [DIR]`.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { renderChart } from './svg.js';
import { markdownTable } from './table.js';
import type { BenchResult } from './types.js';

/** Benchmarks that have a place in the report but are not written yet. */
const PLANNED: { title: string; text: string }[] = [];

const mark = (met: boolean | null): string => (met === null ? 'n/a' : met ? 'met' : '**missed**');

export function writeReport(dir: string, order: readonly string[]): string {
  mkdirSync(dir, { recursive: true });
  const results: BenchResult[] = [];
  for (const name of order) {
    const file = `${dir}${name}.json`;
    if (existsSync(file)) results.push(JSON.parse(readFileSync(file, 'utf8')) as BenchResult);
  }
  const md: string[] = ['# warmpool benchmark report', ''];
  const first = results[0];
  if (first) {
    const m = first.machine;
    const modes = [...new Set(results.map((r) => r.mode))].join(', ');
    md.push(
      `Machine: ${m.cores} cores (${m.cpuModel}), ${m.memoryGiB} GiB, ${m.os} ${m.arch}, Node ${m.node}; ` +
        `onnxruntime-node ${m.packages['onnxruntime-node']}, transformers.js ${m.packages['@huggingface/transformers']}, ` +
        `piscina ${m.packages.piscina}, warmpool ${m.packages.warmpool}${m.commit ? ` (${m.commit})` : ''}.`,
      '',
      `Mode: ${modes}.${results.some((r) => r.poolEnv && Object.keys(r.poolEnv).length > 0) ? ` Pool environment: ${[...new Set(results.flatMap((r) => Object.entries(r.poolEnv ?? {}).map(([k, v]) => `${k}=${v}`)))].join(', ')}.` : ''} Dates: ${results.map((r) => r.date.slice(0, 16).replace('T', ' ')).sort()[0]} to ${results.map((r) => r.date.slice(0, 16).replace('T', ' ')).sort().at(-1)} UTC. ` +
        `Load average at start of each benchmark: ${results.map((r) => r.machine.loadAverage1m).join(', ')} ` +
        `(a value near or above the core count means other work shared the cores and figures are noisy).`,
      '',
      'Every comparison below ran side by side in one process. Each figure comes from a single run of its benchmark (no averaging across runs). ' +
        '`glove-100d` (a Gather graph, almost free to compute) is used where per-call overhead is measured; ' +
        '`minilm-shape` (all-MiniLM-L6-v2\'s exact transformer shape, random weights) wherever compute cost matters.',
      '',
      '## Targets',
      '',
      '| benchmark | target | status | result |',
      '| --- | --- | --- | --- |',
    );
    for (const r of results) {
      if (!r.available) md.push(`| ${r.title} | (not available in this build) | n/a | ${r.unavailableReason ?? ''} |`);
      for (const t of r.targets) md.push(`| ${r.title} | ${t.description} ${t.target} | ${mark(t.met)} | ${t.margin} |`);
    }
    md.push('');
  } else {
    md.push('No results in this folder yet: run `npm run bench`.', '');
  }
  let section = 0;
  for (const r of results) {
    section++;
    md.push(`## ${section}. ${r.title}`, '', r.description, '');
    md.push(`Model: \`${r.model}\` (${r.dtype})${r.models ? `; ${Object.entries(r.models).map(([k, v]) => `${k}: \`${v}\``).join(', ')}` : ''}. ` +
      `Ran ${(r.durationMs / 1000).toFixed(1)} s (${r.mode}), ${r.date.slice(0, 19).replace('T', ' ')} UTC.`, '');
    if (!r.available) md.push(`**Not available in this build:** ${r.unavailableReason ?? ''}`, '');
    for (const chart of r.charts) {
      const file = `${r.name}-${chart.id}.svg`;
      writeFileSync(`${dir}${file}`, renderChart(chart));
      md.push(`![${chart.title}](${file})`, '');
    }
    for (const table of r.tables) md.push(`**${table.title}**`, '', markdownTable(table), '');
    const busy = r.machine.loadAverage1m >= r.machine.cores * 0.75;
    for (const t of r.targets) {
      const noise = t.met === false && busy
        ? ` This run started with a load average of ${r.machine.loadAverage1m} on ${r.machine.cores} cores: other processes held the cores, so rerun on a quiet machine before trusting the gap.`
        : '';
      md.push(`- Target: ${t.description} ${t.target}: ${mark(t.met)} (${t.margin}).${t.why ? ` ${t.why}` : ''}${noise}`);
    }
    if (r.targets.length) md.push('');
    for (const note of r.notes) md.push(`- ${note}`);
    if (r.notes.length) md.push('');
  }
  for (const p of PLANNED) {
    section++;
    md.push(`## ${section}. ${p.title}`, '', p.text, '');
  }
  const path = `${dir}REPORT.md`;
  writeFileSync(path, md.join('\n'));
  return path;
}
