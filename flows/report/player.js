// musicmaker report: the multitrack player (issue 27). Plain JS, inlined in report.html, no build step.
// Reads PlayerData (flows/report/player.py) from #mm-player-data and renders into #mm-player. Each source's audio
// comes as a bundle script (report/audio/<key>.js, Ogg Opus in base64) handed to window.musicmakerAudio, since a
// file:// page cannot fetch files. One AudioContext; every voice starts at one `when` from one offset, so the
// stems stay sample-aligned. API for tests and power users: window.musicmakerPlayer (see the end).
(() => {
  'use strict';
  const root = document.getElementById('mm-player');
  const dataEl = document.getElementById('mm-player-data');
  if (!root || !dataEl || window.musicmakerPlayer) return;
  const data = JSON.parse(dataEl.textContent);
  const LEAD = 0.05; // s from scheduling to the shared start: time for every start() call to land before it
  const RAMP = 0.008; // s, time constant of gain changes: mute/solo/A-B without a click
  const DB_MIN = -40, DB_MAX = 12; // gain slider range, dB
  const SEEK_STEP = 5; // s per arrow key on the position bar
  const toGain = (db) => Math.pow(10, db / 20);

  const css = `
.mm-player{--mm-side:270px;background:var(--panel,#16181d);border:1px solid var(--line,#2a2e37);border-radius:8px;
 padding:10px;color:var(--text,#e6e8ec);user-select:none}
.mm-row{display:grid;grid-template-columns:var(--mm-side) 1fr;gap:8px;align-items:center;margin:3px 0}
.mm-side{display:flex;flex-wrap:wrap;align-items:center;gap:3px 6px;min-width:0;font-size:12px}
.mm-tools{display:flex;flex-wrap:wrap;align-items:center;gap:6px;margin-bottom:6px;font-size:12px}
.mm-ctl{display:flex;align-items:center;gap:5px;flex:1 1 100%}
.mm-seek::before{content:'';position:absolute;left:0;top:0;bottom:0;width:calc(var(--mm-pos,0)*100%);
 background:rgba(124,183,255,.28)}
.mm-player input[type=range]{accent-color:var(--accent,#7cb7ff)}
.mm-track{position:relative;height:26px;background:var(--panel2,#1c1f26);border-radius:4px;overflow:hidden;cursor:pointer}
.mm-lane .mm-track{height:46px}
.mm-track img{position:absolute;inset:0;width:100%;height:100%;object-fit:fill;opacity:.85;pointer-events:none}
.mm-head{position:absolute;top:0;bottom:0;width:2px;background:#fff;left:calc(var(--mm-pos,0)*100%);pointer-events:none}
.mm-player button,.mm-player select{font:inherit;font-size:12px;color:inherit;background:var(--panel2,#1c1f26);
 border:1px solid var(--line,#2a2e37);border-radius:4px;padding:2px 8px;cursor:pointer}
.mm-player button[aria-pressed=true]{background:var(--accent,#7cb7ff);color:#0f1115;border-color:transparent}
.mm-player button:disabled{opacity:.4;cursor:default}
.mm-player :focus-visible{outline:2px solid var(--accent,#7cb7ff);outline-offset:1px}
.mm-play{min-width:64px;font-weight:600}
.mm-time{font-variant-numeric:tabular-nums;min-width:104px}
.mm-name{font-weight:600;flex:1 1 0;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.mm-status{color:var(--muted,#9aa3b2)}.mm-missing .mm-status{color:var(--bad,#ef4444);font-weight:600}
.mm-missing .mm-track{opacity:.35}
.mm-lane input[type=range]{width:72px;margin:0}.mm-db{min-width:44px;font-variant-numeric:tabular-nums}
.mm-span{position:absolute;top:0;bottom:0;overflow:hidden;white-space:nowrap;text-overflow:ellipsis;font-size:11px;
 padding:4px 4px;border-right:1px solid var(--bg,#0f1115);background:#2b3440;text-align:left;border-radius:0}
.mm-player .mm-sec{border:0;border-right:1px solid var(--bg,#0f1115);border-radius:0;padding:4px 6px}
.mm-sec:nth-child(3n+1){background:#243b63}.mm-sec:nth-child(3n+2){background:#3a2c5e}.mm-sec:nth-child(3n){background:#24504a}
.mm-loopzone{position:absolute;top:0;bottom:0;background:rgba(124,183,255,.22);pointer-events:none}
.mm-lane:focus-within,.mm-lane:focus{background:rgba(124,183,255,.07);outline:none}
.mm-help{color:var(--muted,#9aa3b2);font-size:11px;margin-left:auto}`;
  const style = document.createElement('style');
  style.textContent = css;
  document.head.appendChild(style);

  // ---------------------------------------------------------------- DOM helpers
  const el = (tag, attrs, ...kids) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'on') for (const [e, f] of Object.entries(v)) node.addEventListener(e, f);
      else if (k === 'class') node.className = v;
      else if (v !== null && v !== undefined) node.setAttribute(k, v);
    }
    node.append(...kids);
    return node;
  };
  const clock = (s) => {
    s = Math.max(0, s);
    const m = Math.floor(s / 60);
    return m + ':' + (s - 60 * m).toFixed(1).padStart(4, '0');
  };
  const pct = (s) => (100 * s / duration).toFixed(4) + '%';
  const press = (button, on) => button.setAttribute('aria-pressed', on ? 'true' : 'false');

  // ---------------------------------------------------------------- audio graph
  const ctx = new (window.AudioContext || window.webkitAudioContext)();
  const master = ctx.createGain();
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 8192; // ~0.18 s at 44.1 kHz: a steady level for level()
  master.connect(analyser).connect(ctx.destination);
  const stemsBus = ctx.createGain(), mixBus = ctx.createGain();
  mixBus.gain.value = 0;
  stemsBus.connect(master);
  mixBus.connect(master);

  // Every voice (each lane and the mix) plays one of its sources; entries hold each source's buffer by key.
  const entries = new Map(); // key -> {source, state: 'queued'|'loading'|'ready'|'missing', buffer, why}
  const entry = (source) => {
    if (!entries.has(source.key)) entries.set(source.key, {source, state: 'queued', buffer: null, why: ''});
    return entries.get(source.key);
  };
  const makeVoice = (name, sources, offset, out) => ({name, sources, offset, out, current: 0, node: null, sched: null});
  const lanes = data.lanes.map((lane) => {
    const gain = ctx.createGain();
    gain.connect(stemsBus);
    const voice = makeVoice(lane.name, lane.sources, Number((data.offsets || {})[lane.name] || 0), gain);
    return Object.assign(voice, {lane, gain, mute: false, solo: false, db: Number(lane.gain_db || 0), ui: null});
  });
  const mixVoice = data.mix ? makeVoice('mix', [data.mix], 0, mixBus) : null;
  const voices = mixVoice ? [...lanes, mixVoice] : lanes;
  const byName = (name) => {
    const lane = lanes.find((l) => l.name === name);
    if (!lane) throw new Error(`no lane "${name}"; lanes: ${lanes.map((l) => l.name).join(', ')}`);
    return lane;
  };
  const duration = Number(data.duration) > 0 ? Number(data.duration) : 1;

  // ---------------------------------------------------------------- transport: one time line, one clock
  let playing = false, anchorPos = 0, anchorCtx = 0; // the time line is at anchorPos at ctx time anchorCtx
  let loop = false, region = [0, duration], comparing = false;
  const wrap = (p) => (loop && p >= region[1] ? region[0] + ((p - region[0]) % (region[1] - region[0])) : p);
  const at = (when) => (playing ? wrap(anchorPos + Math.max(0, when - anchorCtx)) : anchorPos);
  const now = () => Math.min(duration, at(ctx.currentTime));

  function stopVoice(voice, when) {
    if (voice.node) {
      try { voice.node.stop(when || 0); } catch (e) { /* never started: nothing to stop */ }
    }
    voice.node = null;
    voice.sched = null;
  }

  // Start `voice` at ctx time `when`, at the time line's position then; the old node stops at the same instant.
  function startVoice(voice, when) {
    stopVoice(voice, when);
    const e = entry(voice.sources[voice.current]);
    if (e.state !== 'ready') return;
    const buffer = e.buffer, o = voice.offset, node = ctx.createBufferSource();
    node.buffer = buffer;
    let start = when, offset = at(when) - o, ls = 0, le = buffer.duration;
    if (loop) { // one limit: an album lane that begins inside the loop region wraps to its own start
      ls = Math.max(0, region[0] - o);
      le = Math.min(buffer.duration, region[1] - o);
      if (le <= ls) return;
      Object.assign(node, {loop: true, loopStart: ls, loopEnd: le});
    }
    if (offset < 0) { start -= offset; offset = 0; }
    if (offset >= (loop ? le : buffer.duration)) return; // the lane is over here: silent until a restart
    node.connect(voice.out);
    node.start(start, offset);
    voice.node = node;
    voice.sched = {when: start, offset, loop, ls, le};
  }

  function restart(position) {
    anchorPos = Math.max(0, Math.min(position, duration));
    if (!playing) return draw();
    anchorCtx = ctx.currentTime + LEAD;
    for (const voice of voices) startVoice(voice, anchorCtx);
    draw();
  }

  function play() {
    if (playing) return;
    if (ctx.state !== 'running') ctx.resume();
    if (anchorPos >= duration - 0.01) anchorPos = loop ? region[0] : 0;
    playing = true;
    restart(anchorPos);
    last = anchorPos;
    requestAnimationFrame(frame);
  }

  function pause() {
    if (!playing) return;
    anchorPos = now();
    playing = false;
    for (const voice of voices) stopVoice(voice);
    draw();
  }

  function seek(position) {
    if (loop && position >= region[1]) loop = false; // moved past the loop: leave it
    restart(position);
  }

  // Loop [start, end] (the last region, or the whole track, when not given); `from` is where to go on from.
  function setLoop(on, start, end, from) {
    const position = from === undefined ? now() : from;
    loop = Boolean(on);
    if (start !== undefined) region = [Math.max(0, start), Math.min(duration, end)];
    restart(loop && position >= region[1] ? region[0] : position);
  }

  // ---------------------------------------------------------------- mixing
  function applyGains() {
    const soloing = lanes.some((l) => l.solo);
    for (const lane of lanes) {
      const audible = !lane.mute && (!soloing || lane.solo);
      lane.gain.gain.setTargetAtTime(audible ? toGain(lane.db) : 0, ctx.currentTime, RAMP);
      if (lane.ui) {
        press(lane.ui.mute, lane.mute);
        press(lane.ui.solo, lane.solo);
        lane.ui.gain.value = String(lane.db);
        lane.ui.db.textContent = (lane.db > 0 ? '+' : '') + lane.db.toFixed(1) + ' dB';
      }
    }
    stemsBus.gain.setTargetAtTime(comparing ? 0 : 1, ctx.currentTime, RAMP);
    mixBus.gain.setTargetAtTime(comparing ? 1 : 0, ctx.currentTime, RAMP);
    press(ui.compare, comparing);
    ui.compare.textContent = comparing ? 'B: mix' : 'A: stems';
  }

  function setSource(name, label) {
    const lane = byName(name);
    const index = lane.sources.findIndex((s) => s.label === label);
    if (index < 0) throw new Error(`lane "${name}" has no source "${label}"`);
    lane.current = index;
    lane.ui.select && (lane.ui.select.value = String(index));
    const e = entry(lane.sources[index]);
    if (e.state === 'queued') queue.unshift(queue.splice(queue.indexOf(e), 1)[0]); // load it next
    if (playing) startVoice(lane, ctx.currentTime + LEAD); // joins in sync; the old source stops then
    status();
  }

  // ---------------------------------------------------------------- loading, one bundle at a time
  const hub = (window.musicmakerAudio = window.musicmakerAudio || {pending: {}});
  hub.pending = hub.pending || {};
  hub.add = function (key, b64) { this.pending[key] = b64; };

  const loadScript = (src, key) => new Promise((resolve, reject) => {
    if (hub.pending[key]) return resolve(hub.pending[key]);
    const tag = el('script', {src});
    tag.onload = () => (hub.pending[key] ? resolve(hub.pending[key]) : reject(new Error(`${src} carried no "${key}"`)));
    tag.onerror = () => reject(new Error(`could not load ${src}`));
    tag.addEventListener('load', () => tag.remove());
    tag.addEventListener('error', () => tag.remove());
    document.head.appendChild(tag);
  }).finally(() => { delete hub.pending[key]; });

  // base64 to bytes off the main thread (a data: URL fetch; measured on 8 bundles of 4.3 MB: longest stall 68 ms,
  // against 142 ms for atob and a loop, which stays as the fallback)
  const bytes = async (b64) => {
    try {
      return await (await fetch('data:application/octet-stream;base64,' + b64)).arrayBuffer();
    } catch (err) {
      const text = atob(b64), out = new Uint8Array(text.length);
      for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
      return out.buffer;
    }
  };

  async function load(e) {
    e.state = 'loading';
    status();
    try {
      if (!e.source.bundle) throw new Error(`no audio file ${e.source.file}`);
      e.buffer = await ctx.decodeAudioData(await bytes(await loadScript(e.source.bundle, e.source.key)));
      e.state = 'ready';
    } catch (err) {
      e.state = 'missing';
      e.why = String((err && err.message) || err || 'could not decode');
    }
    for (const voice of voices) {
      if (playing && !voice.node && voice.sources[voice.current].key === e.source.key) {
        startVoice(voice, ctx.currentTime + LEAD); // a late source joins the running transport in sync
      }
    }
    status();
  }

  // What each lane plays first, then the mix, then the other sources (raw, takes).
  const queue = [...lanes.map((l) => entry(l.sources[0])), ...(mixVoice ? [entry(data.mix)] : []),
    ...lanes.flatMap((l) => l.sources.map(entry))].filter((e, i, all) => all.indexOf(e) === i);
  async function loadAll() {
    while (queue.length) {
      await load(queue.shift());
      await new Promise((r) => setTimeout(r, 0)); // let the page paint and answer between bundles
    }
  }

  // ---------------------------------------------------------------- UI
  const ui = {};
  const track = (extra, onSeek) => {
    const node = el('div', {class: 'mm-track'}, ...extra, el('div', {class: 'mm-head'}));
    if (onSeek) node.addEventListener('click', (ev) => {
      const box = node.getBoundingClientRect();
      seek(duration * Math.min(1, Math.max(0, (ev.clientX - box.left) / box.width)));
    });
    return node;
  };
  const spanStyle = (s) => `left:${pct(s.start)};width:${pct(Math.max(0, s.end - s.start))}`;

  function buildTransport() {
    ui.play = el('button', {class: 'mm-play', 'aria-label': 'Play', on: {click: () => (playing ? pause() : play())}}, '▶ Play');
    ui.time = el('span', {class: 'mm-time', role: 'timer', 'aria-label': 'Position'}, '0:00.0');
    ui.loop = el('button', {'aria-pressed': 'false', 'aria-label': 'Loop', title: 'Loop the selected section or the whole track', on: {click: () => setLoop(!loop)}}, '⟲ Loop');
    ui.compare = el('button', {'aria-pressed': 'false', 'aria-label': 'Compare: A plays the stems, B plays the mix', disabled: mixVoice ? null : '', on: {click: () => { comparing = !comparing; applyGains(); }}}, 'A: stems');
    ui.progress = el('span', {class: 'mm-status', 'aria-live': 'polite'});
    ui.zone = el('div', {class: 'mm-loopzone', hidden: ''});
    ui.bar = track([ui.zone], true);
    ui.bar.classList.add('mm-seek');
    Object.assign(ui.bar, {tabIndex: 0});
    for (const [k, v] of Object.entries({role: 'slider', 'aria-label': 'Seek', 'aria-valuemin': '0', 'aria-valuemax': duration.toFixed(1)})) ui.bar.setAttribute(k, v);
    ui.bar.addEventListener('keydown', (ev) => {
      const step = {ArrowLeft: -SEEK_STEP, ArrowRight: SEEK_STEP, ArrowDown: -SEEK_STEP, ArrowUp: SEEK_STEP}[ev.key];
      if (step) seek(now() + step);
      else if (ev.key === 'Home') seek(0);
      else if (ev.key === 'End') seek(duration);
      else return;
      ev.preventDefault();
    });
    const help = 'Space plays and pauses; M and S mute and solo the focused lane; click a lane or the bar to seek.';
    root.append(el('div', {class: 'mm-tools'}, ui.play, ui.time, ui.loop, ui.compare, ui.progress, el('span', {class: 'mm-help'}, help)),
      el('div', {class: 'mm-row'}, el('div', {class: 'mm-side'}, 'Position'), ui.bar));
  }

  function buildSpans() {
    if (data.sections && data.sections.length) {
      ui.sections = data.sections.map((s) => el('button', {
        class: 'mm-span mm-sec', style: spanStyle(s), 'aria-pressed': 'false', title: `${s.name}: ${clock(s.start)}–${clock(s.end)}`,
        'aria-label': `Loop section ${s.name}, ${clock(s.start)} to ${clock(s.end)}`,
        on: {click: (ev) => { const same = loop && region[0] === s.start && region[1] === s.end; setLoop(!same, s.start, s.end, s.start); }},
      }, s.name));
      root.append(el('div', {class: 'mm-row'}, el('div', {class: 'mm-side'}, 'Sections (click to loop)'), track(ui.sections, false)));
    }
    if (data.chords && data.chords.length) {
      const chords = data.chords.map((c) => el('div', {class: 'mm-span', style: spanStyle(c), title: `${c.name} at ${clock(c.start)}`}, c.name));
      root.append(el('div', {class: 'mm-row'}, el('div', {class: 'mm-side'}, 'Chords'), track(chords, true)));
    }
  }

  function buildLane(lane) {
    const n = lane.name;
    const u = (lane.ui = {});
    u.mute = el('button', {'aria-pressed': 'false', 'aria-label': `Mute ${n}`, title: 'Mute (M)', on: {click: () => api.setMute(n, !lane.mute)}}, 'M');
    u.solo = el('button', {'aria-pressed': 'false', 'aria-label': `Solo ${n}`, title: 'Solo (S)', on: {click: () => api.setSolo(n, !lane.solo)}}, 'S');
    u.gain = el('input', {type: 'range', min: DB_MIN, max: DB_MAX, step: '0.5', value: lane.db, 'aria-label': `Gain of ${n}, dB`,
      on: {input: (ev) => api.setGain(n, Number(ev.target.value))}});
    u.db = el('span', {class: 'mm-db'});
    u.status = el('span', {class: 'mm-status', 'aria-live': 'polite'}, 'waiting');
    const controls = el('div', {class: 'mm-ctl'}, u.mute, u.solo, u.gain, u.db);
    if (lane.sources.length > 1) {
      u.select = el('select', {'aria-label': `Source of ${n}`, on: {change: (ev) => setSource(n, lane.sources[Number(ev.target.value)].label)}},
        ...lane.sources.map((s, i) => el('option', {value: String(i)}, s.label)));
      controls.append(u.select);
    }
    const side = el('div', {class: 'mm-side'}, el('span', {class: 'mm-name', title: n}, n), u.status, controls);
    const wave = lane.lane.wave ? [el('img', {src: lane.lane.wave, alt: '', loading: 'lazy'})] : [];
    u.row = el('div', {class: 'mm-row mm-lane', tabindex: '0', role: 'group', 'aria-label': `${n}: M mutes, S solos`}, side, track(wave, true));
    u.row.addEventListener('keydown', (ev) => {
      if (ev.ctrlKey || ev.metaKey || ev.altKey || /^(SELECT|TEXTAREA)$/.test(ev.target.tagName)) return;
      const key = ev.key.toLowerCase();
      if (key === 'm') api.setMute(n, !lane.mute);
      else if (key === 's') api.setSolo(n, !lane.solo);
      else return;
      ev.preventDefault();
    });
    root.append(u.row);
  }

  function status() {
    let done = 0;
    for (const e of entries.values()) done += e.state === 'ready' || e.state === 'missing' ? 1 : 0;
    ui.progress.textContent = done < entries.size ? `loading ${done + 1} of ${entries.size}…` : '';
    for (const lane of lanes) {
      const e = entry(lane.sources[lane.current]);
      const text = {queued: 'waiting', loading: 'loading…', ready: '', missing: 'missing'}[e.state];
      if (lane.ui.status.textContent !== text) lane.ui.status.textContent = text;
      lane.ui.status.title = e.why;
      lane.ui.row.classList.toggle('mm-missing', e.state === 'missing');
    }
  }

  function draw() {
    const position = now();
    root.style.setProperty('--mm-pos', (position / duration).toFixed(5));
    ui.time.textContent = `${clock(position)} / ${clock(duration)}`;
    ui.bar.setAttribute('aria-valuenow', position.toFixed(1));
    ui.bar.setAttribute('aria-valuetext', clock(position));
    ui.play.textContent = playing ? '❚❚ Pause' : '▶ Play';
    ui.play.setAttribute('aria-label', playing ? 'Pause' : 'Play');
    press(ui.loop, loop);
    ui.zone.hidden = !loop;
    ui.zone.style.cssText = `left:${pct(region[0])};width:${pct(region[1] - region[0])}`;
    (ui.sections || []).forEach((b, i) => press(b, loop && region[0] === data.sections[i].start && region[1] === data.sections[i].end));
  }

  let last = 0;
  function frame() {
    if (!playing) return;
    const position = now();
    if (!loop && position >= duration) { pause(); anchorPos = 0; draw(); return; }
    if (loop && position < last) { // a wrap: voices that were over come back in
      for (const voice of voices) if (!voice.node) startVoice(voice, ctx.currentTime + LEAD);
    }
    last = position;
    draw();
    requestAnimationFrame(frame);
  }

  document.addEventListener('keydown', (ev) => {
    if (ev.key !== ' ' || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (ev.target.closest && ev.target.closest('input,select,textarea,button,audio,video,[contenteditable]')) return;
    ev.preventDefault();
    playing ? pause() : play();
  });

  buildTransport();
  buildSpans();
  lanes.forEach(buildLane);

  // ---------------------------------------------------------------- API
  const positions = () => {
    const out = {}, t = ctx.currentTime;
    for (const lane of lanes) {
      const s = lane.sched;
      if (!playing) { if (entry(lane.sources[lane.current]).state === 'ready') out[lane.name] = anchorPos; continue; }
      if (!s) continue;
      let b = s.offset + (Math.max(t, anchorCtx) - s.when); // the lane's own clock, held like currentTime until the start
      if (s.loop && b >= s.le) b = s.ls + ((b - s.ls) % (s.le - s.ls));
      out[lane.name] = lane.offset + b;
    }
    return out;
  };
  const api = {
    stems: lanes.map((l) => l.name),
    duration,
    ready: null,
    context: ctx,
    play,
    pause,
    seek,
    setLoop,
    get currentTime() { return now(); },
    get playing() { return playing; },
    setMute(name, on) { byName(name).mute = Boolean(on); applyGains(); },
    setSolo(name, on) { byName(name).solo = Boolean(on); applyGains(); },
    setGain(name, db) { byName(name).db = Math.max(DB_MIN, Math.min(DB_MAX, Number(db))); applyGains(); },
    setSource,
    source: (name) => { const l = byName(name); return l.sources[l.current].label; },
    compare(on) { if (on && !mixVoice) throw new Error('this page has no mix to compare'); comparing = Boolean(on); applyGains(); },
    positions,
    missing: () => lanes.filter((l) => entry(l.sources[l.current]).state === 'missing').map((l) => l.name),
    level() {
      const samples = new Float32Array(analyser.fftSize);
      analyser.getFloatTimeDomainData(samples);
      let sum = 0;
      for (const x of samples) sum += x * x;
      return Math.sqrt(sum / samples.length);
    },
  };
  window.musicmakerPlayer = api;
  applyGains();
  status();
  draw();
  api.ready = loadAll(); // resolves when every bundle has loaded or failed
})();
