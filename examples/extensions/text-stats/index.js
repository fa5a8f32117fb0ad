// Counts words, lines and characters, and the most frequent words; merges per-file statistics.
const WORD = /[\p{L}\p{N}']+/gu;

function stats(text) {
  const words = (text.toLowerCase().match(WORD) ?? []).map((w) => w.replace(/^'+|'+$/g, '')).filter(Boolean);
  const counts = {};
  for (const w of words) counts[w] = (counts[w] ?? 0) + 1;
  return { words: words.length, lines: text === '' ? 0 : text.split('\n').length, chars: text.length, counts };
}

function top(counts, n) {
  return Object.entries(counts)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, n)
    .map(([word, count]) => ({ word, count }));
}

export default {
  async activate(ctx) {
    ctx.bus.handle('text.stats', ({ path, text }) => {
      if (typeof text !== 'string') throw Object.assign(new Error('text.stats needs { text: string }'), { code: -32602 });
      const s = stats(text);
      return { path: path ?? null, words: s.words, lines: s.lines, chars: s.chars, top: top(s.counts, 5), counts: s.counts };
    });
    ctx.bus.handle('text.merge', ({ files, top: n = 10 }) => {
      const counts = {};
      let words = 0;
      let lines = 0;
      let chars = 0;
      for (const f of files) {
        words += f.words;
        lines += f.lines;
        chars += f.chars;
        for (const [w, c] of Object.entries(f.counts)) counts[w] = (counts[w] ?? 0) + c;
      }
      ctx.bus.publish('text.merged', { files: files.length, words });
      return { files: files.length, words, lines, chars, distinct: Object.keys(counts).length, top: top(counts, n), perFile: files.map((f) => ({ path: f.path, words: f.words })) };
    });
  },
};
