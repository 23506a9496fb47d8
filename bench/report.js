#!/usr/bin/env node
/* The benchmark report: cairn beside the DataScript peer.
 *
 *   node bench/report.js --mode quick|full --raw DIR --results DIR --md FILE
 *
 * Reads what bench/run.sh collected in DIR (peer-N<n>.jsonl from bench.js,
 * cairn-N<n>.jsonl and cairn-typed-N<n>.jsonl from cairn_bench,
 * micro-<name>.jsonl from the other bench programs) and writes:
 *   - a table on stdout;
 *   - <results>/latest.jsonl: one line per benchmark and N, with at least
 *     bench, n, cairn_ms, peer_ms, ratio (peer/cairn: above 1 means cairn is
 *     faster or smaller) and ok (the answer matched; null when nothing was
 *     checked or cairn could not run it);
 *   - <results>/compare.svg and <results>/scaling.svg (gnuplot);
 *   - the markdown report FILE (BENCHMARKS.md), including the goals of the
 *     issue and whether each is met.
 *
 * A cairn figure exists only for a checked answer: cairn_bench gives wrong or
 * unsupported benchmarks no time, and this report shows them as such.
 * Written in JavaScript because node is already needed for the peer and
 * this is JSON in, text out.
 */
'use strict';

const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');

// ---------------------------------------------------------------- input

function parseArgs(argv) {
  const o = { mode: 'quick', raw: 'build/bench/raw', results: 'bench/results', md: 'BENCHMARKS.md' };
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i].replace(/^--/, ''), v = argv[i + 1];
    if (!(k in o) || v === undefined) throw new Error('usage: report.js --mode M --raw DIR --results DIR --md FILE');
    o[k] = v;
  }
  return o;
}

function readJsonl(file) {
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, 'utf8').split('\n').filter(l => l.startsWith('{')).map(l => {
    try { return JSON.parse(l); } catch (e) { return null; }
  }).filter(Boolean);
}

function loadRaw(dir) {
  const runs = { peer: {}, cairn: {}, typed: {}, micro: [], meta: { peer: {}, cairn: {}, typed: {} } };
  for (const f of fs.existsSync(dir) ? fs.readdirSync(dir).sort() : []) {
    let m;
    const lines = () => readJsonl(path.join(dir, f));
    if ((m = /^(peer|cairn|cairn-typed)-N(\d+)\.jsonl$/.exec(f))) {
      const sys = m[1] === 'cairn-typed' ? 'typed' : m[1], n = +m[2];
      runs[sys][n] = {};
      for (const r of lines()) {
        if (r.meta) runs.meta[sys][n] = r;
        else if (r.bench) runs[sys][n][r.bench] = r;
      }
    } else if ((m = /^micro-(.+)\.jsonl$/.exec(f))) {
      for (const r of lines()) runs.micro.push({ source: m[1], ...r });
    }
  }
  const notes = path.join(dir, 'notes.txt');
  runs.notes = fs.existsSync(notes) ? fs.readFileSync(notes, 'utf8').split('\n').filter(Boolean) : [];
  return runs;
}

// ---------------------------------------------------------------- pairing cairn with the peer

const TX_BENCHES = new Set(['tx-entity', 'tx-entity-4t', 'tx-entity-16t', 'tx-datom', 'retract-entity']);

// The peer benchmark a cairn benchmark is compared with, and how.
function peerRef(id) {
  if (id.startsWith('tx-entity')) return { id: 'tx-entity', per: 'tx' };
  if (TX_BENCHES.has(id)) return { id, per: 'tx' };
  if (id === 'cold-open-q1' || id === 'warm-open-q1') return { id: 'thaw', per: 'call', note: 'peer: thaw (d.from_serializable of the frozen db), its nearest analogue of opening a stored db' };
  if (id === 'load-one-tx') return { id: 'init-db', per: 'call', note: 'peer: init-db (d.init_db of all datoms, no transaction logic)' };
  if (id === 'size-on-disk' || id === 'size-one-commit' || id === 'size-after-gc') return { id: 'db-heap', per: 'value', field: 'bytes_per_datom', unit: 'B/datom', note: 'peer: bytes/datom of its in-memory db (V8 heap); DataScript has no on-disk form' };
  if (id === 'peak-memory') return { id: 'peak-memory', per: 'value', field: 'max_rss_mb', unit: 'MiB' };
  return { id, per: 'call' };
}

// The figure of one record: ms per call (or per transaction), or a value.
function figure(r, ref, side) {
  if (!r || r.median_ms === undefined && ref.per !== 'value') return null;
  if (ref.per === 'value') {
    const field = side === 'cairn' && ref.id === 'db-heap' ? 'bytes_per_datom' : ref.field;
    return r[field] === undefined ? null : { med: r[field], min: r[field], max: r[field] };
  }
  if (ref.per === 'tx') {
    const count = side === 'cairn' ? r.txs : (r.entities || r.txs);
    if (!count) return null;
    return { med: r.median_ms / count, min: r.median_ms / count, max: r.median_ms / count };
  }
  const runs = r.runs_ms && r.runs_ms.length ? r.runs_ms : null;
  return { med: r.median_ms, min: r.min_ms ?? (runs ? Math.min(...runs) : r.median_ms), max: r.max_ms ?? (runs ? Math.max(...runs) : r.median_ms) };
}

function isContended(r, nproc) {
  if (!r) return false;
  if (r.contended !== undefined) return !!r.contended;
  const cu = Array.isArray(r.cpu_util) ? Math.min(...r.cpu_util) : r.cpu_util;
  return (r.load1 !== undefined && r.load1 > nproc * 0.75) || (cu !== undefined && cu < 0.9);
}

function merge(runs) {
  const rows = [];
  const ns = [...new Set([...Object.keys(runs.cairn), ...Object.keys(runs.peer)].map(Number))].sort((a, b) => a - b);
  for (const n of ns) {
    const c = runs.cairn[n] || {}, t = runs.typed[n] || {}, p = runs.peer[n] || {};
    const nproc = (runs.meta.cairn[n] || runs.meta.peer[n] || {}).nproc || 2;
    const ids = Object.keys(c);
    for (const id of Object.keys(p)) if (!ids.includes(id) && !['db-heap', 'init-db', 'freeze', 'thaw', 'peak-memory'].includes(id)) ids.push(id);
    for (const id of ids) {
      const ref = peerRef(id), cr = c[id], tr = t[id], pr = p[ref.id];
      const cf = cr && cr.status === 'ok' ? figure(cr, ref, 'cairn') : null;
      const tf = tr && tr.status === 'ok' ? figure(tr, ref, 'cairn') : null;
      const pf = pr && !pr.error ? figure(pr, ref, 'peer') : null;
      const row = {
        bench: id, group: (cr || pr || {}).group, n, unit: ref.unit || (ref.per === 'tx' ? 'ms/tx' : 'ms'),
        cairn_ms: ref.per === 'value' ? null : cf ? cf.med : null,
        cairn_min_ms: ref.per === 'value' ? null : cf ? cf.min : null,
        cairn_max_ms: ref.per === 'value' ? null : cf ? cf.max : null,
        peer_ms: ref.per === 'value' ? null : pf ? pf.med : null,
        peer_min_ms: ref.per === 'value' ? null : pf ? pf.min : null,
        peer_max_ms: ref.per === 'value' ? null : pf ? pf.max : null,
        ratio: cf && pf ? pf.med / cf.med : null,
        ok: cr ? (cr.ok ?? null) : null,
        status: cr ? cr.status : 'not run',
      };
      if (ref.per === 'value') { row.cairn_value = cf ? cf.med : null; row.peer_value = pf ? pf.med : null; }
      if (ref.id !== id) row.peer_bench = ref.id;
      if (tr) Object.assign(row, { cairn_typed_ms: ref.per === 'value' ? null : tf ? tf.med : null, ratio_typed: tf && pf ? pf.med / tf.med : null, ok_typed: tr.ok ?? null, status_typed: tr.status });
      if (tr && ref.per === 'value') row.cairn_typed_value = tf ? tf.med : null;
      for (const k of ['tx_per_s', 'datoms_per_s']) {
        if (cr && cr[k] !== undefined) row['cairn_' + k] = cr[k];
        if (pr && pr[k] !== undefined) row['peer_' + k] = pr[k];
        if (tr && tr[k] !== undefined) row['cairn_typed_' + k] = tr[k];
      }
      if (cr && cr.threads) row.threads = cr.threads;
      if (cr && cr.time_boxed) row.time_boxed = true;
      if (cr && cr.single_run) row.single_run = true;
      if (cr && cr.result_count !== undefined) row.result_count = cr.result_count;
      if (cr && cr.open_ms !== undefined) Object.assign(row, { exec_ms: cr.exec_ms, open_ms: cr.open_ms, first_datom_ms: cr.first_datom_ms });
      if (cr && cr.error) row.error = cr.error;
      if (cr && cr.status === 'wrong') Object.assign(row, { expected_count: cr.expected_count, got_count: cr.result_count });
      row.contended = isContended(cr, nproc) || isContended(pr, nproc);
      if (cr) { row.cairn_load1 = cr.load1; row.cairn_cpu_util = cr.cpu_util; }
      if (pr) { row.peer_load1 = pr.load1; row.peer_cpu_util = pr.cpu_util; }
      if (ref.note) row.peer_note = ref.note;
      if (cr && cr.note) row.note = cr.note;
      rows.push(row);
    }
  }
  return rows;
}

// ---------------------------------------------------------------- formatting

function fmtMs(ms) {
  if (ms === null || ms === undefined || !isFinite(ms)) return '';
  return ms >= 100 ? ms.toFixed(0) + ' ms' : ms >= 1 ? ms.toFixed(2) + ' ms' : ms >= 0.001 ? (ms * 1000).toFixed(1) + ' µs' : (ms * 1e6).toFixed(0) + ' ns';
}
function fmtNum(x) { return x >= 1e6 ? (x / 1e6).toFixed(2) + 'M' : x >= 1e3 ? (x / 1e3).toFixed(1) + 'k' : String(+x.toFixed(1)); }
function fmtRatio(r) { return r === null || r === undefined ? '' : r >= 10 ? r.toFixed(0) + '×' : r >= 1 ? r.toFixed(1) + '×' : r.toFixed(2) + '×'; }
function fmtN(n) { return n >= 1e6 ? n / 1e6 + 'M' : n >= 1e3 ? n / 1e3 + 'k' : String(n); }

function cell(row, side) {
  const v = side === 'cairn' ? row.cairn_value : side === 'typed' ? row.cairn_typed_value : row.peer_value;
  if (row.unit === 'B/datom' || row.unit === 'MiB') return v === null || v === undefined ? '' : `${+v.toFixed(1)} ${row.unit}`;
  const med = side === 'cairn' ? row.cairn_ms : side === 'typed' ? row.cairn_typed_ms : row.peer_ms;
  const lo = side === 'cairn' ? row.cairn_min_ms : side === 'peer' ? row.peer_min_ms : null;
  const hi = side === 'cairn' ? row.cairn_max_ms : side === 'peer' ? row.peer_max_ms : null;
  if (med === null || med === undefined) return '';
  let s = fmtMs(med) + (row.unit === 'ms/tx' ? '/tx' : '');
  if (lo !== null && hi !== null && lo !== undefined && hi !== undefined && hi > lo) {
    const a = fmtMs(lo), b = fmtMs(hi), unit = (x) => x.replace(/^[\d.]+ /, '');
    s += ` (${unit(a) === unit(b) ? a.replace(/ .*$/, '') : a}–${b})`;
  }
  return s;
}

function statusCell(row) {
  switch (row.status) {
    case 'ok': return row.ok === true ? 'ok' : '-';
    case 'unavailable': return 'not available';
    case 'wrong': return 'WRONG';
    default: return row.status;
  }
}

function notes(row) {
  const out = [];
  if (row.status === 'unavailable') out.push(row.error || (row.group === 'open' ? 'q1 not available' : 'unsupported'));
  if (row.status === 'wrong') out.push(`wrong answer: ${row.got_count} rows, expected ${row.expected_count}; no time reported`);
  if (row.status === 'error') out.push('error: ' + (row.error || '?'));
  if (row.cairn_tx_per_s !== undefined && row.unit === 'ms/tx') out.push(`cairn ${fmtNum(row.cairn_tx_per_s)} tx/s` + (row.threads > 1 ? ` (${row.threads} threads)` : ''));
  if (row.peer_tx_per_s !== undefined && row.unit === 'ms/tx') out.push(`peer ${fmtNum(row.peer_tx_per_s)} tx/s`);
  if (row.bench === 'bulk-load-1000' || row.bench === 'load-one-tx') {
    if (row.cairn_datoms_per_s !== undefined) out.push(`cairn ${fmtNum(row.cairn_datoms_per_s)} datoms/s`);
    if (row.peer_datoms_per_s !== undefined) out.push(`peer ${fmtNum(row.peer_datoms_per_s)} datoms/s`);
  }
  if (row.open_ms !== undefined) out.push(`process start ${fmtMs(row.exec_ms)}, open ${fmtMs(row.open_ms)}, first datom ${fmtMs(row.first_datom_ms)} after spawn`);
  if (row.peer_bench) out.push('vs peer ' + row.peer_bench);
  if (row.time_boxed) out.push('time-boxed');
  if (row.single_run) out.push('single run');
  if (row.contended) out.push('contended');
  return out.join('; ');
}

function pad(s, w) { s = String(s); return s.length >= w ? s : s + ' '.repeat(w - s.length); }

function textTable(rows) {
  const head = ['bench', 'N', 'cairn', 'cairn typed', 'peer', 'peer/cairn', 'check', 'notes'];
  const body = rows.map(r => [r.bench, fmtN(r.n), cell(r, 'cairn'), cell(r, 'typed'), cell(r, 'peer'), fmtRatio(r.ratio), statusCell(r), notes(r)]);
  const w = head.map((h, i) => Math.min(i === 7 ? 200 : 34, Math.max(h.length, ...body.map(b => b[i].length))));
  const line = (cols) => cols.map((c, i) => pad(c, w[i])).join('  ').trimEnd();
  return [line(head), line(w.map(x => '-'.repeat(x))), ...body.map(line)].join('\n');
}

function mdTable(rows) {
  const esc = (s) => String(s).replace(/\|/g, '\\|');
  const out = ['| bench | N | cairn | cairn typed | DataScript | peer/cairn | check | notes |', '|---|---:|---:|---:|---:|---:|---|---|'];
  for (const r of rows) out.push(`| ${esc(r.bench)} | ${fmtN(r.n)} | ${esc(cell(r, 'cairn'))} | ${esc(cell(r, 'typed'))} | ${esc(cell(r, 'peer'))} | ${fmtRatio(r.ratio)} | ${statusCell(r)} | ${esc(notes(r))} |`);
  return out.join('\n');
}

// ---------------------------------------------------------------- goals

function goals(rows) {
  const at = (id, n) => rows.find(r => r.bench === id && r.n === n);
  const largest = (id) => rows.filter(r => r.bench === id).sort((a, b) => b.n - a.n)[0];
  const out = [];
  const add = (goal, measured, verdict, row) => out.push({ goal, measured: measured + (row && row.contended && row.status === 'ok' ? ' (contended)' : ''), verdict });
  const na = (r) => !r ? 'not measured in this run' : r.status === 'ok' ? null : `${statusCell(r)}${r.error ? ' (' + r.error + ')' : ''}`;

  let r = largest('bulk-load-1000');
  add('Bulk load ≥ 1M datoms/s, durable', r && r.cairn_datoms_per_s !== undefined ? `${fmtNum(r.cairn_datoms_per_s)} datoms/s at N=${fmtN(r.n)} (file store, fsync)` : na(r),
    r && r.cairn_datoms_per_s !== undefined ? (r.cairn_datoms_per_s >= 1e6 ? 'met' : 'MISSED') : 'not measured', r);

  const qs = rows.filter(x => x.n === 100000 && ['query', 'rules', 'aggregate'].includes(x.group));
  if (qs.length) {
    const fast = qs.filter(x => x.ratio !== null && x.ratio >= 5), timed = qs.filter(x => x.ratio !== null);
    const missing = qs.filter(x => x.ratio === null).map(x => x.bench);
    const slow = timed.filter(x => x.ratio < 5).map(x => `${x.bench} ${fmtRatio(x.ratio)}`);
    add('Every query ≥ 5× faster than the peer at N=100k',
      `${fast.length} of ${qs.length} queries ≥ 5×` + (slow.length ? `; slower: ${slow.join(', ')}` : '') + (missing.length ? `; not available: ${missing.length} (${missing.slice(0, 6).join(', ')}${missing.length > 6 ? ', …' : ''})` : ''),
      fast.length === qs.length ? 'met' : 'MISSED');
  } else add('Every query ≥ 5× faster than the peer at N=100k', 'N=100k not run', 'not measured');

  const q2 = at('q2', 100000) || largest('q2'), q2s = q2 && at('q2-switch', q2.n);
  if (q2 && q2s && q2.cairn_ms !== null && q2s.cairn_ms !== null) {
    const x = q2s.cairn_ms / q2.cairn_ms;
    add('q2-switch within 20% of q2', `q2-switch / q2 = ${x.toFixed(2)} at N=${fmtN(q2.n)}`, x <= 1.2 ? 'met' : 'MISSED');
  } else add('q2-switch within 20% of q2', na(q2s) || na(q2) || 'no cairn time', 'not measurable yet');

  const rr = rows.filter(x => x.n === 1000000 && x.bench.startsWith('rule-reach'));
  const rrRan = rr.filter(x => x.cairn_ms !== null);
  if (rrRan.length) {
    // a rule query the shared query file has no checked answer for at 1M
    // (rule-reach-last) is named, not silently dropped
    const worst = Math.max(...rrRan.map(x => x.cairn_ms));
    const notRun = rr.filter(x => x.cairn_ms === null).map(x => x.bench);
    add('Recursive rule at 1M < 50 ms', rrRan.map(x => `${x.bench} ${fmtMs(x.cairn_ms)}`).join(', ') +
        (notRun.length ? `; not run: ${notRun.join(', ')} (not in queries-1000000.edn, so no answer to check it against)` : ''),
        worst < 50 ? 'met' : 'MISSED');
  } else add('Recursive rule at 1M < 50 ms', rr.length ? rr.map(x => `${x.bench}: ${na(x) || fmtMs(x.cairn_ms)}`).join(', ') : 'N=1M not run (make bench-full)', rr.length ? 'not measurable yet' : 'not measured');

  r = largest('cold-open-q1');
  if (r && r.cairn_ms !== null) add('Cold open + first q1 < 15 ms', `${fmtMs(r.cairn_ms)} at N=${fmtN(r.n)}`, r.cairn_ms < 15 ? (r.n >= 1000000 ? 'met' : 'met (at this N; the goal is at 1M)') : 'MISSED', r);
  else add('Cold open + first q1 < 15 ms', r ? `q1 ${na(r)}; without it, a new process reads its first datom ${fmtMs(r.first_datom_ms)} after spawn (medians: process start ${fmtMs(r.exec_ms)}, opening the store ${fmtMs(r.open_ms)}; N=${fmtN(r.n)})` : 'not measured', 'not measurable yet');

  r = largest('size-on-disk');
  const one = r && at('size-one-commit', r.n);
  const gcd = r && at('size-after-gc', r.n);
  const ok = x => x && x.cairn_value !== null && x.cairn_value <= 15;
  add('≤ 15 bytes per datom on disk', r && r.cairn_value !== null ? `${r.cairn_value.toFixed(1)} B/datom at N=${fmtN(r.n)} after bulk-load-1000 (every commit kept)` +
    (gcd && gcd.cairn_value !== null ? `; ${gcd.cairn_value.toFixed(1)} B/datom after gc-storage with remove-before = now (the head commit kept, with all its history)` : '') +
    (one && one.cairn_value !== null ? `; ${one.cairn_value.toFixed(1)} B/datom for a store holding one commit (load-one-tx)` : '') : na(r),
    r && r.cairn_value !== null ? (r.cairn_value <= 15 ? 'met' : ok(gcd) ? 'met after gc-storage (MISSED with every commit kept)' : ok(one) ? 'MISSED (met by one commit)' : 'MISSED') : 'not measured');

  r = largest('tx-entity-16t');
  add('≥ 20k tx/s single-entity transactions at 16 threads', r && r.cairn_tx_per_s !== undefined ? `${fmtNum(r.cairn_tx_per_s)} tx/s at N=${fmtN(r.n)} (file store, fsync)` : na(r),
    r && r.cairn_tx_per_s !== undefined ? (r.cairn_tx_per_s >= 20000 ? 'met' : 'MISSED') : 'not measured', r);
  return out;
}

// ---------------------------------------------------------------- charts

function gnuplot(script, dir) {
  try {
    execFileSync('gnuplot', [], { input: script, cwd: dir, stdio: ['pipe', 'ignore', 'pipe'] });
    return true;
  } catch (e) {
    process.stderr.write('report.js: gnuplot failed: ' + (e.stderr ? e.stderr.toString() : e.message) + '\n');
    return false;
  }
}

// cairn vs the peer per benchmark (ms per call or per tx) at the N with the most cairn figures.
function compareChart(rows, dir) {
  const timed = rows.filter(r => r.unit !== 'B/datom' && r.unit !== 'MiB');
  const ns = [...new Set(timed.map(r => r.n))];
  const score = (n) => timed.filter(r => r.n === n && r.peer_ms !== null).length * 10 + timed.filter(r => r.n === n && r.cairn_ms !== null).length;
  const n = ns.sort((a, b) => score(b) - score(a) || b - a)[0];
  if (n === undefined) return null;
  const sel = timed.filter(r => r.n === n && (r.cairn_ms !== null || r.peer_ms !== null));
  const dat = sel.map(r => `"${r.bench}" ${r.cairn_ms ?? 'NaN'} ${r.cairn_typed_ms ?? 'NaN'} ${r.peer_ms ?? 'NaN'}`).join('\n') + '\n';
  fs.writeFileSync(path.join(dir, 'compare.dat'), dat);
  const ok = gnuplot(`set terminal svg size 1200,620 dynamic noenhanced font 'sans,11' background '#ffffff'
set output 'compare.svg'
set title 'cairn vs DataScript ${'1.8.1'} at N=${n}: median time per call (per transaction for tx-*), log scale; lower is better'
set datafile missing 'NaN'
set style data histograms
set style histogram cluster gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y
set ylabel 'ms'
set grid ytics
set xtics rotate by -50 scale 0 font ',9'
set key top left
set bmargin 9
plot 'compare.dat' using 2:xtic(1) title 'cairn (peer schema)' lc rgb '#1b7837', '' using 3 title 'cairn typed' lc rgb '#7fbf7b', '' using 4 title 'DataScript (peer)' lc rgb '#762a83'
`, dir);
  fs.unlinkSync(path.join(dir, 'compare.dat'));
  return ok ? { file: 'compare.svg', n } : null;
}

// median query time against N for a few queries, both systems.
const SCALING = ['q1', 'q2', 'q4', 'qpred1', 'q-ref-join', 'agg-by-name', 'rule-reach-1000', 'pull-many-1000', 'entity-1000', 'datoms-avet-2000'];
function scalingChart(rows, dir) {
  const series = [];
  for (const id of SCALING) for (const side of ['cairn', 'peer']) {
    const pts = rows.filter(r => r.bench === id && r[side + '_ms'] !== null).map(r => [r.n, r[side + '_ms']]).sort((a, b) => a[0] - b[0]);
    if (pts.length) series.push({ id, side, pts });
  }
  if (!series.length || new Set(rows.map(r => r.n)).size < 2) return null;
  fs.writeFileSync(path.join(dir, 'scaling.dat'), series.map(s => s.pts.map(p => `${p[0]} ${p[1]}`).join('\n')).join('\n\n\n') + '\n');
  const colors = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
  const plots = series.map((s, i) => `'scaling.dat' index ${i} using 1:2 with linespoints dt ${s.side === 'cairn' ? 1 : 2} pt ${s.side === 'cairn' ? 7 : 6} lc rgb '${colors[SCALING.indexOf(s.id) % colors.length]}' title '${s.id} (${s.side === 'cairn' ? 'cairn' : 'DataScript'})'`);
  const ok = gnuplot(`set terminal svg size 1000,620 dynamic noenhanced font 'sans,11' background '#ffffff'
set output 'scaling.svg'
set title 'Query time against N (solid: cairn, dashed: DataScript), log-log; lower is better'
set logscale xy
set xlabel 'N (people)'
set ylabel 'ms per call'
set grid
set key outside right top font ',9'
plot ${plots.join(', \\\n     ')}
`, dir);
  fs.unlinkSync(path.join(dir, 'scaling.dat'));
  return ok ? { file: 'scaling.svg' } : null;
}

// ---------------------------------------------------------------- markdown

function machine(runs) {
  const anyMeta = (sys) => Object.values(runs.meta[sys]);
  const c = anyMeta('cairn')[0] || {}, p = anyMeta('peer')[0] || {};
  const loads = [...anyMeta('cairn'), ...anyMeta('peer')].map(m => m.loadavg_start && m.loadavg_start[0]).filter(x => x !== undefined);
  return { cpu: c.cpu || p.cpu || '?', nproc: c.nproc || p.nproc || '?', mem: p.total_mem_gb, cairn: c.cairn, datascript: p.datascript, node: p.node, date: c.date || p.date, loads };
}

function microSection(micro) {
  if (!micro.length) return 'No micro-benchmark program (bench/*.c besides cairn_bench.c) is in this tree yet.\n';
  // each line: what it measures (its other fields) and its value (value + unit, or its numbers)
  const out = ['Lines printed by the other bench programs (run with --quick in quick mode). No peer counterpart.', '',
    '| program | what | value |', '|---|---|---:|'];
  const esc = (x) => String(x).replace(/\|/g, '\\|');
  for (const m of micro) {
    const { source, bench, value, unit, ...rest } = m;
    const what = Object.entries(rest).filter(([, v]) => typeof v !== 'number' || value !== undefined).map(([k, v]) => `${k}=${v}`).join(' ');
    const val = value !== undefined ? `${+Number(value).toPrecision(4)}${unit ? ' ' + unit : ''}`
      : Object.entries(rest).filter(([, v]) => typeof v === 'number').map(([k, v]) => `${k}=${+v.toPrecision(4)}`).join(' ');
    out.push(`| ${esc(source)} | ${esc(what)} | ${esc(val)} |`);
  }
  return out.join('\n') + '\n';
}

function markdown(o, runs, rows, gs, charts) {
  const m = machine(runs);
  const ns = [...new Set(rows.map(r => r.n))].sort((a, b) => a - b);
  const unavailable = rows.filter(r => r.status === 'unavailable');
  const byReason = {};
  for (const r of unavailable) (byReason[r.error || 'unsupported'] ||= new Set()).add(r.bench);
  const contended = rows.filter(r => r.contended).length;
  const L = [];
  L.push('# Benchmarks: cairn beside DataScript');
  L.push('');
  L.push(`Generated by \`make ${o.mode === 'full' ? 'bench-full' : 'bench'}\` (bench/run.sh ${o.mode}, bench/report.js) on ${m.date || '?'}. ` +
    'Do not edit by hand: run it again. Raw figures: `bench/results/latest.jsonl` (one JSON line per benchmark and N).');
  L.push('');
  L.push(`Machine: ${m.cpu} × ${m.nproc} cores${m.mem ? `, ${m.mem} GiB` : ''}; cairn ${m.cairn || '?'}; DataScript ${m.datascript || '?'} on node ${m.node || '?'} (the peer, ../shared/bench/bench.js). ` +
    `N = ${ns.map(fmtN).join(', ')} people (≈ 9 datoms each). Load average when the runs started: ${m.loads.map(x => x.toFixed(1)).join(', ') || '?'}.`);
  L.push('');
  L.push('How to read it:');
  L.push('');
  L.push('- Both systems ran in the same invocation on the same data, one after the other (never at the same time). Times are medians of repeated samples (min–max in brackets); *peer/cairn* above 1 means cairn is faster (or smaller).');
  L.push('- Every cairn answer was checked before it was timed: queries against the count and SHA-256 of the peer\'s answer (canonical form of ../shared/bench/README.md), API-level reads and loads against the data file. A benchmark whose answer was wrong, or that cairn cannot run yet, has **no time**: it says WRONG or *not available*.');
  L.push('- cairn writes are durable (file store, every commit fsynced before it is acknowledged); DataScript keeps its db in memory. The peer\'s query times include its EDN query parsing cache lookup and `clj->js` conversion of results.');
  L.push('- *cairn* uses the peer\'s schema (schema-on-read, untyped values); *cairn typed* the same data under a typed schema-on-write variant.');
  L.push(`- The machine is shared (2 cores, other work running). A figure taken while load1 > 0.75 × cores, or with cpu_util < 0.9 for a single-threaded benchmark, is marked *contended*: treat it as noisy. ${contended} of ${rows.length} rows are marked.`);
  L.push('');
  if (runs.notes.length) {
    L.push('Notes from this run:');
    L.push('');
    for (const n of runs.notes) L.push('- ' + n);
    L.push('');
  }
  L.push('## Goals');
  L.push('');
  L.push('| goal | measured | verdict |');
  L.push('|---|---|---|');
  for (const g of gs) L.push(`| ${g.goal} | ${g.measured} | ${g.verdict === 'met' || g.verdict.startsWith('met ') ? g.verdict : '**' + g.verdict + '**'} |`);
  L.push('');
  if (unavailable.length) {
    L.push('## Not available yet');
    L.push('');
    for (const [why, ids] of Object.entries(byReason)) L.push(`- ${[...ids].join(', ')}: cairn says "${why}".`);
    L.push('');
  }
  L.push('## Charts');
  L.push('');
  if (charts.compare) L.push(`![cairn vs DataScript at N=${charts.compare.n}](bench/results/${charts.compare.file})`);
  else L.push('(no comparison chart: gnuplot missing or nothing measured)');
  L.push('');
  if (charts.scaling) L.push('![query time against N](bench/results/scaling.svg)');
  else L.push('(no scaling chart: it needs two or more N; `make bench-full` runs 20k, 100k and 1M)');
  L.push('');
  for (const n of ns) {
    L.push(`## N = ${fmtN(n)}`);
    L.push('');
    L.push(mdTable(rows.filter(r => r.n === n)));
    L.push('');
  }
  L.push('## Micro-benchmarks');
  L.push('');
  L.push(microSection(runs.micro));
  return L.join('\n') + '\n';
}

// ---------------------------------------------------------------- main

function main() {
  const o = parseArgs(process.argv.slice(2));
  const runs = loadRaw(o.raw);
  const rows = merge(runs);
  fs.mkdirSync(o.results, { recursive: true });
  fs.writeFileSync(path.join(o.results, 'latest.jsonl'), rows.map(r => JSON.stringify(r)).join('\n') + (rows.length ? '\n' : ''));
  for (const m of runs.micro) fs.appendFileSync(path.join(o.results, 'latest.jsonl'), JSON.stringify({ micro: true, ...m }) + '\n');
  const gs = goals(rows);
  const charts = { compare: compareChart(rows, o.results), scaling: scalingChart(rows, o.results) };
  fs.writeFileSync(o.md, markdown(o, runs, rows, gs, charts));
  for (const n of [...new Set(rows.map(r => r.n))]) {
    process.stdout.write(`\nN = ${n}\n` + textTable(rows.filter(r => r.n === n)) + '\n');
  }
  if (runs.notes.length) process.stdout.write('\nNotes\n' + runs.notes.map(n => '  ' + n).join('\n') + '\n');
  process.stdout.write('\nGoals\n' + gs.map(g => `  ${g.verdict.padEnd(18)} ${g.goal}: ${g.measured}`).join('\n') + '\n');
  process.stdout.write(`\nwrote ${path.join(o.results, 'latest.jsonl')}, ${o.md}` + (charts.compare ? `, ${path.join(o.results, charts.compare.file)}` : '') + (charts.scaling ? `, ${path.join(o.results, 'scaling.svg')}` : '') + '\n');
}

main();
