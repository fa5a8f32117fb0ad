// Turns merged statistics into a short report.
export default {
  async activate(ctx) {
    ctx.bus.handle('report.text', ({ stats, title = 'Text statistics' }) => {
      const lines = [
        title,
        '='.repeat(title.length),
        `${stats.files} file(s), ${stats.words} words, ${stats.distinct} distinct, ${stats.lines} lines.`,
        `Most frequent: ${stats.top.map((t) => `${t.word} (${t.count})`).join(', ')}.`,
        ...stats.perFile.map((f) => `- ${f.path}: ${f.words} words`),
      ];
      return { report: lines.join('\n') };
    });
  },
};
