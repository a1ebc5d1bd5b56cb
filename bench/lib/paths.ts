import { fileURLToPath } from 'node:url';

/** The repository root (benchmarks run against its built `dist/`). */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const MODELS_DIR = `${ROOT}models/`;
export const BENCH_WORKERS = `${ROOT}bench/workers/`;
export const DEFAULT_RESULTS = `${ROOT}bench/results/`;
