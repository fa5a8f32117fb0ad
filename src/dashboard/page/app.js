// The Symphony dashboard page: everything it shows comes over one Server-Sent Events stream
// (/dashboard/events); it never polls and never reloads. Text from the system is always set as
// text (never as HTML). The operator token lives only in this script's memory: it is never put in
// the page, in storage or in a URL.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const el = (tag, attrs = {}, ...children) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  };
  const svgEl = (tag, attrs = {}, text) => {
    const e = document.createElementNS('http://www.w3.org/2000/svg', tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const ms = (v) => (v === null || v === undefined || !Number.isFinite(v) ? '–' : v < 10 ? `${v.toFixed(2)}ms` : v < 1000 ? `${v.toFixed(1)}ms` : `${(v / 1000).toFixed(2)}s`);
  const dur = (v) => {
    if (v === null || v === undefined) return '–';
    const s = Math.floor(v / 1000);
    if (s < 60) return `${s}s`;
    if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
    return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  };
  const bytes = (v) => (v === null || v === undefined ? '–' : v < 1048576 ? `${(v / 1024).toFixed(0)} KiB` : `${(v / 1048576).toFixed(1)} MiB`);
  const stateChip = (s) => el('span', { class: `state s-${String(s).split(' ')[0].replace(/[^a-z-]/g, '')}`, text: s });

  const view = { ready: false, inventory: null, boot: null, runs: new Map(), melodyFiles: [], actions: { available: false }, log: [], lastSeq: 0, peers: new Map() };
  /** The operator token, in memory only. */
  let token = null;

  // ---- notices -------------------------------------------------------------------------------------
  const notice = (message, level = 'info') => {
    const n = el('div', { class: `notice ${level}`, role: level === 'error' ? 'alert' : 'status', text: message });
    $('notices').append(n);
    setTimeout(() => n.remove(), level === 'error' ? 9000 : 5000);
  };

  // ---- the token and the actions -----------------------------------------------------------------
  const readOnlyWhy = () => (!view.actions.available ? `Actions are not available: ${view.actions.why}` : 'Read-only: enter the operator token (top right) to act');
  const renderLock = () => {
    const open = token !== null;
    $('lock').textContent = open ? 'actions unlocked' : 'read-only';
    $('lock').className = open ? 'lock open' : 'lock';
    $('lock-button').hidden = !open;
    $('token').hidden = open;
    $('unlock-button').hidden = open;
    $('actions-note').textContent = open ? 'Actions are unlocked for this page (the token stays in this page\'s memory; Lock forgets it).' : `${readOnlyWhy()}. Restart and run stay disabled until then.`;
    const melodyButton = $('melody-button');
    melodyButton.disabled = !open || view.melodyFiles.length === 0;
    melodyButton.title = !open ? readOnlyWhy() : view.melodyFiles.length === 0 ? 'No melody files in the Conductor\'s folders' : 'Run this melody as the operator';
    for (const b of document.querySelectorAll('button[data-action]')) {
      b.disabled = !open;
      b.title = open ? b.dataset.what : readOnlyWhy();
    }
  };

  const act = async (action, body) => {
    if (token === null) return null;
    const res = await fetch(`/dashboard/actions/${action}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body), cache: 'no-store' });
    let answer = null;
    try {
      answer = await res.json();
    } catch {
      answer = { error: `HTTP ${res.status}` };
    }
    if (res.status === 401) {
      token = null;
      renderLock();
    }
    return { status: res.status, answer };
  };

  $('unlock').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const input = $('token');
    const given = input.value.trim();
    input.value = '';
    if (!given) return notice('Paste the operator token first (docs/dashboard.md says where it is).', 'warn');
    token = given;
    const r = await act('verify', {});
    if (r && r.status === 200) notice('Actions unlocked.');
    else {
      token = null;
      notice(`Not unlocked: ${(r && r.answer && r.answer.error) || 'refused'}`, 'error');
    }
    renderLock();
  });
  $('lock-button').addEventListener('click', () => {
    token = null;
    renderLock();
    notice('Locked: the page is read-only again.');
  });

  const restart = async (name, what, button) => {
    button.disabled = true;
    notice(`${what} '${name}'…`);
    const r = await act('restart', { name });
    if (!r) return renderLock();
    if (r.status === 200) notice(`'${name}' restarted (${r.answer.state ?? 'done'}).`);
    else notice(`${what} '${name}' refused: ${r.answer.error}`, 'error');
    renderLock();
  };

  $('melody-file').addEventListener('change', () => prefillInputs());
  const prefillInputs = () => {
    const f = view.melodyFiles.find((m) => m.id === $('melody-file').value);
    if (!f) return;
    const inputs = {};
    for (const [k, v] of Object.entries(f.inputs)) inputs[k] = v.default !== undefined ? v.default : v.type === 'number' ? 0 : v.type === 'boolean' ? false : v.type === 'array' ? [] : '';
    $('melody-inputs').value = JSON.stringify(inputs);
  };
  $('run-melody').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    let inputs;
    try {
      inputs = JSON.parse($('melody-inputs').value || '{}');
    } catch {
      return notice('The inputs are not JSON: write them as { "name": value }.', 'error');
    }
    const file = $('melody-file').value;
    const r = await act('melody', { file, inputs });
    if (!r) return;
    if (r.status === 200) notice(`Melody ${r.answer.melody ?? file}: ${r.answer.state}${r.answer.reason && r.answer.state !== 'succeeded' ? ` (${r.answer.reason})` : ''}.`, r.answer.state === 'succeeded' ? 'info' : 'warn');
    else if (r.status === 202) notice(`Melody ${r.answer.started} started; its steps follow below.`);
    else notice(`Melody not run: ${r.answer.error}`, 'error');
  });

  // ---- the header ----------------------------------------------------------------------------------
  const renderHeader = () => {
    const s = view.inventory && view.inventory.system;
    if (!s) return;
    const badge = $('system');
    badge.textContent = s.state;
    badge.className = `badge s-${s.state}`;
    $('facts').textContent = `pid ${s.pid} · up ${dur(s.uptimeMs)} · RSS ${bytes(s.rssBytes)} · heap ${bytes(s.heapUsedBytes)} · isolation ${s.isolation}`;
  };

  // ---- the cluster's nodes (only on a node of a cluster) ----------------------------------------------
  const renderNodes = () => {
    const nodes = view.inventory && view.inventory.nodes;
    $('nodes-section').hidden = !nodes;
    if (!nodes) return;
    $('nodes').tBodies[0].replaceChildren(
      ...nodes.map((n) =>
        el(
          'tr',
          { 'data-node': n.node, class: n.self ? 'self' : undefined },
          el('td', { 'data-col': 'node', text: n.self ? `${n.node} (this node)` : n.node }),
          el('td', { 'data-col': 'pid', text: String(n.pid) }),
          el('td', { 'data-col': 'host', text: n.host }),
          el('td', { 'data-col': 'since', text: new Date(n.since).toLocaleTimeString() }),
          el('td', { 'data-col': 'seen', text: n.self ? '–' : `${n.lastSeenMs} ms ago` }),
        ),
      ),
    );
  };

  // ---- the components table -----------------------------------------------------------------------
  const grantText = (g) => {
    if (g === undefined || g === null) return '';
    if (typeof g !== 'object') return String(g);
    const parts = [];
    for (const key of ['execution', 'provides', 'calls', 'publishes', 'subscribes']) if (g[key] !== undefined) parts.push(`${key} ${Array.isArray(g[key]) ? g[key].join(', ') || '—' : g[key]}`);
    if (g.limits) parts.push(`limits ${Object.entries(g.limits).map(([k, v]) => `${k} ${v}`).join(', ')}`);
    if (g.permissions) parts.push(`permissions ${JSON.stringify(g.permissions)}`);
    return parts.join(' · ');
  };
  const renderInventory = () => {
    const inv = view.inventory;
    if (!inv) return;
    renderHeader();
    const body = $('components').tBodies[0];
    const rows = [];
    for (const c of inv.components) {
      const quarantined = c.state === 'quarantined' || c.state === 'failed';
      const what = quarantined ? 'Bring back' : 'Restart';
      const button = el('button', { type: 'button', 'data-action': 'restart', 'data-name': c.name, 'data-what': `${what} '${c.name}' as the operator`, text: what });
      button.addEventListener('click', () => restart(c.name, what, button));
      rows.push(
        el(
          'tr',
          { class: c.kind, 'data-name': c.name, 'data-kind': c.kind },
          el('td', { 'data-col': 'name', text: c.parent ? `${c.name}` : c.name, title: c.parent ? `an extension run by '${c.parent}'` : undefined }),
          el('td', { 'data-col': 'kind', text: c.kind }),
          el('td', { 'data-col': 'state' }, stateChip(c.state)),
          el('td', { 'data-col': 'health', text: c.health ?? '–' }),
          el('td', { 'data-col': 'restarts', text: String(c.restarts) }),
          el('td', { 'data-col': 'uptime', text: dur(c.uptimeMs) }),
          el('td', { 'data-col': 'memory', text: bytes(c.rssBytes) }),
          el('td', { 'data-col': 'pid', text: c.pid === null ? '–' : String(c.pid) }),
          el('td', { 'data-col': 'isolation', text: c.isolation }),
          el('td', { 'data-col': 'grant', class: 'grant', text: c.kind === 'extension' ? grantText(c.grant) || 'none granted' : c.kind === 'peer' ? 'its own token' : 'kernel part (all rights)' }),
          el('td', { 'data-col': 'action' }, button),
        ),
      );
    }
    body.replaceChildren(...rows);
    renderLock();
  };

  // ---- the boot waterfall (as `symphony report` draws it, live while the boot runs) ----------------
  const renderBoot = () => {
    const b = view.boot;
    if (!b) return;
    const r = b.report;
    let rows;
    if (r) {
      rows = [...r.components]
        .sort((a, c) => (a.startMs ?? Infinity) - (c.startMs ?? Infinity) || a.stage - c.stage)
        .flatMap((c) => [c, ...(c.parts || []).map((p) => ({ ...c, name: `${c.name} › ${p.name}`, part: true, startMs: p.startMs, readyMs: p.readyMs, queuedMs: p.startMs, ownMs: p.readyMs === null ? null : p.readyMs - p.startMs, attempts: 1 }))]);
      $('boot-summary').textContent = `${r.system} in ${ms(r.readyMs)} after the kernel was created (process start to kernel ${ms(r.processMs)}; kernel overhead ${ms(r.kernelOverheadMs)}); critical path: ${r.criticalPath.join(' → ') || 'none'}${r.late && r.late.length ? `; late edges: ${r.late.map((l) => `${l.from} ⇢ ${l.to}${l.boundMs === null ? ' (never bound)' : ` at ${ms(l.boundMs)}`}`).join(', ')}` : ''}${r.failure ? `; failed: ${r.failure.component} (${r.failure.phase}): ${r.failure.message}` : ''}.`;
    } else {
      rows = b.live.map((c) => ({ ...c, queuedMs: null, ownMs: c.readyMs !== null && c.startMs !== null ? c.readyMs - c.startMs : null }));
      $('boot-summary').textContent = 'Booting… (the waterfall grows as components start)';
    }
    const critical = new Set(r ? r.criticalPath : []);
    const end = Math.max(r ? r.readyMs : 0, ...rows.map((c) => c.readyMs ?? c.startMs ?? 0), 0.001);
    const box = $('waterfall');
    const width = Math.max(520, box.clientWidth || 800);
    const labelW = Math.min(220, Math.round(width * 0.32));
    const chartW = width - labelW - 70;
    const rowH = 20;
    const top = 28;
    const height = top + rows.length * rowH + 26;
    const x = (v) => labelW + (v / end) * chartW;
    const svg = svgEl('svg', { width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': 'boot waterfall' });
    for (let i = 0; i <= 5; i++) {
      const t = (end * i) / 5;
      svg.append(svgEl('line', { x1: x(t), y1: top - 4, x2: x(t), y2: height - 22, stroke: '#eee' }), svgEl('text', { x: x(t), y: top - 10, 'text-anchor': 'middle', fill: '#888' }, ms(t)));
    }
    if (r) for (const s of r.stages) if (s.readyMs !== null) svg.append(svgEl('line', { x1: x(s.readyMs), y1: top, x2: x(s.readyMs), y2: height - 22, stroke: '#9aa', 'stroke-dasharray': '4 3' }));
    const rowOf = new Map();
    rows.forEach((c, i) => {
      const y = top + i * rowH;
      rowOf.set(c.name, { y, c });
      const onPath = critical.has(c.name);
      svg.append(svgEl('text', { x: labelW - 6, y: y + 14, 'text-anchor': 'end', fill: onPath ? '#b00020' : '#222', 'font-weight': onPath ? 'bold' : 'normal' }, `${c.name} s${c.stage}`));
      if (c.queuedMs !== null && c.startMs !== null && c.startMs > c.queuedMs) svg.append(svgEl('rect', { x: x(c.queuedMs), y: y + 8, width: Math.max(0.5, x(c.startMs) - x(c.queuedMs)), height: 5, fill: '#dde3ea' }));
      if (c.startMs !== null) {
        const stop = c.readyMs ?? c.startMs;
        const fill = c.state === 'failed' ? '#d93025' : c.state === 'skipped' ? '#bbb' : onPath ? '#b00020' : c.state === 'degraded' ? '#f9ab00' : c.readyMs === null ? '#8ab4f8' : '#1a73e8';
        const rect = svgEl('rect', { x: x(c.startMs), y: y + 3, width: Math.max(1.5, x(stop) - x(c.startMs)), height: 13, rx: 2, fill });
        rect.append(svgEl('title', {}, `${c.name}: stage ${c.stage}, ${c.state}, started ${ms(c.startMs)}, ready ${ms(c.readyMs)}, own ${ms(c.ownMs)}${c.attempts > 1 ? `, ${c.attempts} attempts` : ''}`));
        svg.append(rect, svgEl('text', { x: x(stop) + 4, y: y + 14, fill: '#555' }, `${ms(c.ownMs ?? 0)}${c.attempts > 1 ? ` ×${c.attempts}` : ''}${c.state !== 'ready' ? ` ${c.state}` : ''}`));
      } else svg.append(svgEl('text', { x: labelW + 4, y: y + 14, fill: '#999' }, c.state));
    });
    // Late edges: from the component that holds the handle to the one bound later, dashed, at the time it was bound.
    if (r && r.late) {
      for (const l of r.late) {
        const from = rowOf.get(l.from);
        const to = rowOf.get(l.to);
        if (!from || !to) continue;
        const bx = x(l.boundMs ?? to.c.readyMs ?? end);
        const path = svgEl('path', { d: `M ${x(from.c.readyMs ?? 0)} ${from.y + 10} C ${bx} ${from.y + 10}, ${bx} ${to.y + 10}, ${bx} ${to.y + 10}`, fill: 'none', stroke: '#7a5af8', 'stroke-width': 1.5, 'stroke-dasharray': '5 3', class: 'late-edge' });
        path.append(svgEl('title', {}, `late edge ${l.from} ⇢ ${l.to}: ${l.boundMs === null ? 'never bound' : `bound at ${ms(l.boundMs)}`}`));
        svg.append(path);
      }
    }
    svg.append(svgEl('text', { x: labelW, y: height - 6, fill: '#555' }, '■ own start   ■ critical path (red)   ┆ stage ready   ⇢ late edge (dashed)'));
    box.replaceChildren(svg);
  };

  // ---- bus traffic: one small live chart per peer ---------------------------------------------------
  const POINTS = 120;
  const chartOpts = (w) => ({
    width: w,
    height: 84,
    legend: { show: false },
    cursor: { show: false },
    scales: { x: { time: true }, y: { range: (u, lo, hi) => [0, Math.max(1, hi * 1.1)] }, ms: { range: (u, lo, hi) => [0, Math.max(0.1, hi * 1.1)] } },
    axes: [
      { show: false },
      { scale: 'y', size: 34, font: '10px system-ui', gap: 2, ticks: { show: false } },
      { scale: 'ms', side: 1, size: 38, font: '10px system-ui', gap: 2, ticks: { show: false }, grid: { show: false } },
    ],
    series: [{}, { label: 'req/s', scale: 'y', stroke: '#1a73e8', width: 1.5, fill: '#1a73e81a' }, { label: 'p50 ms', scale: 'ms', stroke: '#188038', width: 1 }, { label: 'p99 ms', scale: 'ms', stroke: '#d93025', width: 1 }],
  });
  const renderBus = (sample) => {
    if (!sample) return;
    $('bus-totals').textContent = `${sample.peers.length} peers · ${sample.methods} methods · ${sample.subscriptions} subscriptions · ${sample.inflight} in flight · ${sample.deniedCalls} denied · ${sample.protocolErrors} protocol errors · ${sample.slowConsumers} slow consumers dropped · ${sample.droppedEvents} events dropped`;
    const t = sample.at / 1000;
    const box = $('peers');
    const seen = new Set();
    for (const p of [...sample.peers].sort((a, b) => b.requests - a.requests || a.name.localeCompare(b.name))) {
      seen.add(p.name);
      let peer = view.peers.get(p.name);
      if (!peer) {
        const chartBox = el('div', { class: 'chart' });
        const figures = el('div', { class: 'figures' });
        const title = el('span');
        const breaker = el('span');
        const card = el('div', { class: 'card', 'data-peer': p.name }, el('h3', {}, title, breaker), figures, chartBox, el('div', { class: 'legend' }, el('i', { class: 'l-rate' }), 'req/s', el('i', { class: 'l-p50' }), 'p50', el('i', { class: 'l-p99' }), 'p99 (ms, right)'));
        box.append(card);
        const data = [[], [], [], []];
        peer = { card, chartBox, figures, title, breaker, data, chart: null };
        view.peers.set(p.name, peer);
      }
      peer.title.textContent = `${p.name} (${p.kind}${p.state !== 'ready' && p.state !== 'open' ? `, ${p.state}` : ''})`;
      peer.breaker.replaceChildren(p.breaker === 'closed' ? '' : stateChip(`breaker ${p.breaker}`));
      peer.figures.textContent = `${p.rate.toFixed(1)} req/s · p50 ${p.p50Ms === null ? '–' : ms(p.p50Ms)} · p99 ${p.p99Ms === null ? '–' : ms(p.p99Ms)} · ${p.errors + p.timeouts} errors · ${p.inflight} in flight${p.droppedEvents ? ` · ${p.droppedEvents} events dropped` : ''}`;
      peer.card.classList.toggle('idle', p.requests === 0);
      const d = peer.data;
      d[0].push(t);
      d[1].push(p.rate);
      d[2].push(p.p50Ms);
      d[3].push(p.p99Ms);
      if (d[0].length > POINTS) for (const s of d) s.shift();
      if (typeof uPlot === 'function') {
        if (!peer.chart) peer.chart = new uPlot(chartOpts(Math.max(180, peer.chartBox.clientWidth || 240)), d, peer.chartBox);
        else peer.chart.setData(d);
      }
    }
    for (const [name, peer] of view.peers) {
      if (seen.has(name)) continue;
      peer.chart?.destroy();
      peer.card.remove();
      view.peers.delete(name);
    }
  };
  let resizeTimer;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      for (const p of view.peers.values()) p.chart?.setSize({ width: Math.max(180, p.chartBox.clientWidth || 240), height: 84 });
      renderBoot();
    }, 150);
  });

  // ---- melody runs ---------------------------------------------------------------------------------
  const renderMelodyFiles = () => {
    const sel = $('melody-file');
    const current = sel.value;
    sel.replaceChildren(...view.melodyFiles.map((m) => el('option', { value: m.id, text: `${m.melody} (${m.id})`, title: m.description })));
    if (view.melodyFiles.some((m) => m.id === current)) sel.value = current;
    else prefillInputs();
  };
  const renderRuns = () => {
    const runs = [...view.runs.values()].sort((a, b) => b.createdAt - a.createdAt).slice(0, 12);
    $('runs').replaceChildren(
      ...(runs.length
        ? runs.map((r) =>
            el(
              'div',
              { class: 'run', 'data-run': r.run },
              el('div', {}, el('b', { text: r.melody }), ' ', stateChip(r.state), el('span', { class: 'note', text: ` ${r.run} · ${new Date(r.createdAt).toLocaleTimeString()}` })),
              r.reason && r.state !== 'succeeded' && r.state !== 'running' ? el('div', { class: 'reason', text: r.reason }) : null,
              el('div', { class: 'steps' }, ...Object.entries(r.steps).map(([id, s]) => el('span', { class: `state s-${s.state}`, 'data-step': id, title: `${id}: ${s.state}${s.attempts > 1 ? ` after ${s.attempts} attempts` : ''}`, text: `${id.replace('~fallback', ' (fallback)')}: ${s.state}` }))),
            ),
          )
        : [el('p', { class: 'note', text: 'No melody has run yet.' })]),
    );
  };

  // ---- the event log -------------------------------------------------------------------------------
  const LEVELS = { debug: 0, info: 1, warn: 2, error: 3 };
  const KEEP = 1000;
  const SHOW = 300;
  const matches = (e) => {
    if (LEVELS[e.level] < LEVELS[$('level').value]) return false;
    const f = $('filter').value.trim().toLowerCase();
    return !f || e.component.toLowerCase().includes(f) || e.message.toLowerCase().includes(f);
  };
  const logRow = (e) =>
    e.agg
      ? el('li', { class: 'agg', text: e.message })
      : el('li', { class: e.level, 'data-component': e.component }, el('span', { class: 't', text: new Date(e.at).toLocaleTimeString() }), el('span', { class: 'c', text: e.component }), e.message);
  const renderLog = () => {
    const shown = view.log.filter(matches).slice(-SHOW);
    $('log').replaceChildren(...shown.map(logRow));
    $('log-count').textContent = `${shown.length} shown of ${view.log.length} kept`;
    $('log').scrollTop = $('log').scrollHeight;
  };
  const addLog = (entries) => {
    const list = $('log');
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    for (const e of entries) {
      if (!e.agg) {
        if (e.seq <= view.lastSeq) continue; // already had it (the snapshot and the stream overlap)
        view.lastSeq = e.seq;
      }
      view.log.push(e);
      if (matches(e)) list.append(logRow(e));
    }
    if (view.log.length > KEEP) view.log.splice(0, view.log.length - KEEP);
    while (list.childElementCount > SHOW) list.firstElementChild.remove();
    $('log-count').textContent = `${list.childElementCount} shown of ${view.log.length} kept`;
    if (atBottom) list.scrollTop = list.scrollHeight;
  };
  $('filter').addEventListener('input', renderLog);
  $('level').addEventListener('change', renderLog);

  // ---- the stream ----------------------------------------------------------------------------------
  const stream = new EventSource('/dashboard/events');
  const on = (type, fn) =>
    stream.addEventListener(type, (ev) => {
      let data;
      try {
        data = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (type !== 'snapshot' && !view.ready) return; // the snapshot that follows has it
      fn(data);
    });
  stream.addEventListener('open', () => {
    $('conn').textContent = 'live';
    $('conn').className = 'conn live';
  });
  stream.addEventListener('error', () => {
    $('conn').textContent = 'reconnecting…';
    $('conn').className = 'conn';
    view.ready = false;
  });
  on('snapshot', (s) => {
    view.ready = true;
    view.inventory = s.inventory;
    view.boot = s.boot;
    view.actions = s.actions;
    view.melodyFiles = s.melodyFiles;
    view.runs = new Map(s.melodies.map((r) => [r.run, r]));
    view.log = [];
    view.lastSeq = 0;
    $('log').replaceChildren();
    addLog(s.log);
    renderInventory();
    renderNodes();
    renderBoot();
    renderMelodyFiles();
    renderRuns();
    renderLock();
    if (s.draining) notice(`The system is draining (${s.draining}).`, 'warn');
    // When the page first showed the system (ms since navigation start): what the benchmark reads.
    if (!document.body.dataset.ready) document.body.dataset.readyAt = String(Math.round(performance.now()));
    document.body.dataset.ready = 'true';
  });
  on('inventory', (inv) => {
    view.inventory = inv;
    renderInventory();
    renderNodes();
  });
  on('boot', (b) => {
    view.boot = b;
    renderBoot();
  });
  on('bus', renderBus);
  on('melody', (r) => {
    view.runs.set(r.run, r);
    renderRuns();
  });
  on('log', (batch) => {
    const entries = [...batch.lines];
    const more = Object.entries(batch.suppressed || {});
    if (more.length) entries.push({ agg: true, message: `… and ${more.map(([c, n]) => `${n} more from ${c}`).join(', ')} (a flood: counted, not listed)` });
    addLog(entries);
  });
  on('gap', (g) => addLog([{ agg: true, message: `… ${g.dropped} batches of events were not sent while this page was not reading` }]));
  on('notice', (n) => notice(n.message, n.level));
  renderLock();
})();
