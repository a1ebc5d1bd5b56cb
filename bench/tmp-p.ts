import { createPool } from './lib/warmpool.js';
let t = performance.now();
const lap = (m: string) => { console.log(m, Math.round(performance.now() - t)); t = performance.now(); };
const pool = createPool({ model: 'glove-100d', threads: 2 });
await pool.ready(); lap('ready');
await pool.embed('river'); lap('first');
for (let i = 0; i < 1000; i++) await pool.embed('river'); lap('1000 seq');
await Promise.all(Array.from({length: 1000}, () => pool.embed('river'))); lap('1000 par');
await pool.close(); lap('close');
