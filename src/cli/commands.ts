/**
 * Every subcommand, in the order `--help` lists them. A new command is one file exporting
 * `register(program)`, added here.
 */
import type { Command } from 'commander';
import * as bench from './bench.js';
import * as demo from './demo.js';
import * as embed from './embed.js';
import * as indexFolder from './index-folder.js';
import * as info from './info.js';
import * as migrate from './migrate.js';
import * as rerank from './rerank.js';
import * as search from './search.js';
import * as serve from './serve.js';
import * as stats from './stats.js';
import * as weights from './weights.js';
import * as worker from './worker.js';

export const COMMANDS: readonly { register(program: Command): void }[] = [embed, rerank, indexFolder, search, migrate, serve, worker, stats, info, weights, demo, bench];
