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
  const docs = await pool.embed(SENTENCES);
  out.textContent = `model ready: ${model.dims}-d`;
  go.disabled = false;
  go.onclick = async () => {
    try {
      const q = await pool.embed(document.getElementById('query').value);
      const scored = docs.map((d, i) => ({ s: SENTENCES[i], cosine: d.reduce((acc, x, j) => acc + x * q[j], 0) }));
      scored.sort((a, b) => b.cosine - a.cosine);
      out.textContent = scored.map((r) => `${r.cosine.toFixed(3)}  ${r.s}`).join('\n');
    } catch (error) {
      // The same classes as in Node: error.name, error.code (e.g. ERR_WARMPOOL_INVALID_INPUT).
      out.textContent = `${error.name} [${error.code}]: ${error.message}`;
    }
  };
});
