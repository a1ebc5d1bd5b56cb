import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, platform, release, totalmem, arch } from 'node:os';
import { ROOT } from './paths.js';

/** What ran the benchmark: numbers mean little without it. */
export interface MachineInfo {
  cores: number;
  cpuModel: string;
  node: string;
  os: string;
  arch: string;
  memoryGiB: number;
  /** 1-minute load average when the benchmark started: other work on the cores shows here. */
  loadAverage1m: number;
  packages: Record<string, string>;
  commit: string | null;
}

const version = (pkg: string): string => {
  try {
    return (JSON.parse(readFileSync(`${ROOT}node_modules/${pkg}/package.json`, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
};

export function machineInfo(): MachineInfo {
  let commit: string | null = null;
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    commit = null;
  }
  return {
    cores: availableParallelism(),
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    node: process.version,
    os: `${platform()} ${release()}`,
    arch: arch(),
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    loadAverage1m: Math.round(loadavg()[0]! * 100) / 100,
    packages: {
      warmpool: (JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { version: string }).version,
      piscina: version('piscina'),
      '@huggingface/transformers': version('@huggingface/transformers'),
      'onnxruntime-node': version('onnxruntime-node'),
      tinybench: version('tinybench'),
    },
    commit,
  };
}
