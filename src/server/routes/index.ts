/**
 * The built-in routes, registered in this order. A new group of routes is one file exporting a
 * `WarmpoolRoute` plugin, added to this list (or passed in `ServerOptions.routes`).
 */
import type { WarmpoolRoute } from '../options.js';
import { cohereRerank } from './cohere-rerank.js';
import { collections } from './collections.js';
import { health } from './health.js';
import { openaiEmbeddings } from './openai-embeddings.js';
import { openapi } from './openapi.js';
import { stats } from './stats.js';
import { teiEmbed } from './tei-embed.js';
import { teiRerank } from './tei-rerank.js';
import { teiTokenize } from './tei-tokenize.js';

export const BUILT_IN_ROUTES: readonly WarmpoolRoute[] = [health, openaiEmbeddings, cohereRerank, teiEmbed, teiRerank, teiTokenize, stats, collections, openapi];
