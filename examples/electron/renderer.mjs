// Renderer: no Node, no model; a typed pool API over the port the preload handed over.
import { connectPool } from 'warmpool/bridge';

const SENTENCES = [
  'A man is playing a guitar.',
  'The stock market fell sharply today.',
  'Heavy rain and strong winds are expected tonight.',
  'The doctor prescribed antibiotics for the infection.',
];
const out = document.getElementById('out');
const go = document.getElementById('go');

window.addEventListener('message', async (event) => {
  if (event.data !== 'warmpool:port') return;
  const pool = connectPool(event.ports[0]);
  const model = await pool.ready();
  // The sentences go to a collection in the pool's store (the same ids replace them on each load).
  // indexStream pulls from any iterable on this side and reports each batch once it is on disk.
  await pool.indexStream(
    SENTENCES.map((text, i) => ({ id: `s${i}`, text })),
    { collection: 'sentences', batchSize: 2, onProgress: ({ indexed }) => (out.textContent = `indexed ${indexed} of ${SENTENCES.length}`) },
  );
  out.textContent = `model ready: ${model.dims}-d, ${await pool.count({ collection: 'sentences' })} sentences indexed`;
  go.disabled = false;
  go.onclick = async () => {
    try {
      const hits = await pool.search(document.getElementById('query').value, { collection: 'sentences', k: SENTENCES.length });
      out.textContent = hits.map((hit) => `${hit.score.toFixed(3)}  ${hit.text}`).join('\n');
    } catch (error) {
      // The same classes as in Node: error.name, error.code (e.g. ERR_WARMPOOL_INVALID_INPUT).
      out.textContent = `${error.name} [${error.code}]: ${error.message}`;
    }
  };
});
