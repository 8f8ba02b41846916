// The canvas map of a whole dataset (pages/_large_map.py writes the payload this reads).
// Points are painted pixel by pixel into one ImageData (captions first, images over them), over a grey
// density layer; hover finds the nearest point through a screen-space grid; a click, a box or a lasso
// sends the chosen point indices (= the map frame's rows) back to Python as the "select" trigger.
// The view (zoom, pan, tool) survives reruns that keep the same points.
export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  const buf = data instanceof Uint8Array ? data : new Uint8Array(data);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const hl = dv.getUint32(0, true);
  const head = JSON.parse(new TextDecoder().decode(buf.subarray(4, 4 + hl)));
  const n = head.n, G = head.density.bins;
  let off = buf.byteOffset + 4 + hl;
  const copy = (T, count) => { const a = new T(buf.buffer.slice(off, off + count * T.BYTES_PER_ELEMENT)); off += count * T.BYTES_PER_ELEMENT; return a; };
  const X = copy(Float32Array, n), Y = copy(Float32Array, n), dens = copy(Uint32Array, G * G);
  const col = copy(Uint8Array, n), flags = copy(Uint8Array, n);
  const IMAGE = 1, SELECTED = 2, anySelected = head.selected > 0;
  const rgb = head.palette.map(h => [parseInt(h.slice(1, 3), 16), parseInt(h.slice(3, 5), 16), parseInt(h.slice(5, 7), 16)]);

  // ---- DOM, built once per element; a rerun replaces the data and keeps the view
  let root = parentElement.querySelector('.xmr-large-map');
  if (!root) {
    root = document.createElement('div');
    root.className = 'xmr-large-map';
    root.innerHTML = `<style>
      .xmr-large-map { position: relative; font: 13px sans-serif; user-select: none; }
      .xmr-large-map .bar { display: flex; gap: 6px; align-items: center; flex-wrap: wrap; margin-bottom: 4px; }
      .xmr-large-map button { border: 1px solid #bbb; background: #fff; border-radius: 4px; padding: 2px 8px; cursor: pointer; }
      .xmr-large-map button.on { background: #262730; color: #fff; }
      .xmr-large-map .legend { display: flex; gap: 10px; flex-wrap: wrap; margin-left: 12px; }
      .xmr-large-map .sw { display: inline-block; width: 10px; height: 10px; margin-right: 4px; vertical-align: middle; }
      .xmr-large-map canvas { display: block; border: 1px solid #eee; cursor: crosshair; }
      .xmr-large-map .tip { position: absolute; pointer-events: none; background: #fff; border: 1px solid #888;
        border-radius: 3px; padding: 2px 6px; display: none; white-space: nowrap; box-shadow: 0 1px 4px rgba(0,0,0,.25); }
      </style>
      <div class="bar"><button data-mode="lasso" title="draw around points to select them">Lasso</button>
        <button data-mode="box" title="drag a box to select points">Box</button>
        <button data-mode="pan" title="drag to move the map; the wheel zooms in any tool">Pan</button>
        <button data-act="reset" title="the whole map again (double-click also clears the selection)">Reset view</button>
        <span class="legend"></span></div>
      <canvas></canvas><div class="tip"></div>`;
    parentElement.appendChild(root);
    root.__state = { mode: 'lasso', view: null, key: null };
  }
  const st = root.__state, cv = root.querySelector('canvas'), tip = root.querySelector('.tip');
  const ctx = cv.getContext('2d');
  const H = head.height;

  // data bounds -> the whole-map view; a new set of points resets the view
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (let i = 0; i < n; i++) { const x = X[i], y = Y[i]; if (x < x0) x0 = x; if (x > x1) x1 = x; if (y < y0) y0 = y; if (y > y1) y1 = y; }
  if (!(x1 > x0)) { x0 -= 1; x1 += 1; } if (!(y1 > y0)) { y0 -= 1; y1 += 1; }
  const key = [n, x0, x1, y0, y1].join(',');
  if (st.key !== key) { st.key = key; st.view = null; }

  // legend / colour bar
  const legend = root.querySelector('.legend');
  legend.innerHTML = '';
  const item = (label, colour) => { const s = document.createElement('span'); s.innerHTML = `<span class="sw"></span>`;
    s.firstChild.style.background = colour; s.appendChild(document.createTextNode(label)); legend.appendChild(s); };
  if (head.colorbar) {
    const b = head.colorbar, s = document.createElement('span');
    s.innerHTML = `<span class="sw" style="width:120px;background:linear-gradient(to right,${b.colours.join(',')})"></span>`;
    s.appendChild(document.createTextNode(`${b.title}: ${+b.lo.toFixed(3)} … ${+b.hi.toFixed(3)}`));
    legend.appendChild(s);
  } else for (const e of head.legend) item(e.label, e.colour);
  if (anySelected) item(`${head.selected.toLocaleString()} selected`, '#000');
  for (const btn of root.querySelectorAll('button[data-mode]')) btn.classList.toggle('on', btn.dataset.mode === st.mode);

  // ---- view: data -> canvas pixels
  let W = 0, sx = 1, sy = 1, ox = 0, oy = 0;
  function fit() {
    W = Math.max(320, Math.floor(root.getBoundingClientRect().width) || 900);
    if (cv.width !== W || cv.height !== H) { cv.width = W; cv.height = H; }
    const v = st.view || { cx: (x0 + x1) / 2, cy: (y0 + y1) / 2, zoom: 1 };
    const s = Math.min((W - 20) / (x1 - x0), (H - 20) / (y1 - y0)) * v.zoom;  // equal scales: t-SNE has no aspect
    sx = s; sy = -s; ox = W / 2 - v.cx * s; oy = H / 2 + v.cy * s;
  }
  const px = i => X[i] * sx + ox, py = i => Y[i] * sy + oy;
  const toData = (cx, cy) => [(cx - ox) / sx, (cy - oy) / sy];

  // ---- draw
  const CELL = 8;
  let gridStart = null, gridItems = null, gw = 0, gh = 0;
  let painted = null, paintedView = null;  // the points' image and the view it was painted for
  // the points and the density layer as one image; only a new view (zoom, pan, size) or new data repaints it
  function paint() {
    const img = ctx.createImageData(W, H), p = img.data;
    p.fill(255);
    // density: log counts as grey cells under the points
    let dmax = 0; for (let k = 0; k < G * G; k++) if (dens[k] > dmax) dmax = dens[k];
    const dx = (head.density.x1 - head.density.x0) / G, dy = (head.density.y1 - head.density.y0) / G, lmax = Math.log1p(dmax) || 1;
    for (let i = 0; i < G; i++) {
      const ca = Math.max(0, Math.floor((head.density.x0 + i * dx) * sx + ox)), cb = Math.min(W, Math.ceil((head.density.x0 + (i + 1) * dx) * sx + ox));
      if (cb <= ca) continue;
      for (let j = 0; j < G; j++) {
        const c = dens[i * G + j]; if (!c) continue;
        const ra = Math.max(0, Math.floor((head.density.y0 + (j + 1) * dy) * sy + oy)), rb = Math.min(H, Math.ceil((head.density.y0 + j * dy) * sy + oy));
        const a = 0.03 + 0.32 * Math.log1p(c) / lmax, v = Math.round(255 * (1 - a));
        for (let r = ra; r < rb; r++) for (let q = ca; q < cb; q++) { const k = (r * W + q) * 4; p[k] = p[k + 1] = p[k + 2] = v; }
      }
    }
    // points: captions, then images, then the selected ones over everything
    const pass = (want, size, alpha) => {
      for (let i = 0; i < n; i++) {
        const f = flags[i];
        if (want === 2 ? !(f & SELECTED) : ((f & IMAGE) !== want || (anySelected && (f & SELECTED)))) continue;
        const cx = Math.round(px(i)), cy = Math.round(py(i));
        if (cx < 0 || cy < 0 || cx >= W || cy >= H) continue;
        const [R, Gc, B] = rgb[col[i]], a = want === 2 ? 1 : (anySelected ? 0.08 : alpha);
        const s = want === 2 ? ((f & IMAGE) ? 4 : 3) : size;
        for (let r = Math.max(0, cy - (s >> 1)); r < Math.min(H, cy - (s >> 1) + s); r++)
          for (let q = Math.max(0, cx - (s >> 1)); q < Math.min(W, cx - (s >> 1) + s); q++) {
            const k = (r * W + q) * 4;
            p[k] += (R - p[k]) * a; p[k + 1] += (Gc - p[k + 1]) * a; p[k + 2] += (B - p[k + 2]) * a;
          }
      }
    };
    pass(0, 2, 0.3); pass(IMAGE, 3, 0.8); if (anySelected) pass(2, 0, 1);
    return img;
  }
  // hover grid: visible points bucketed into CELL-px cells (images last, so they win ties)
  function index() {
    gw = Math.ceil(W / CELL); gh = Math.ceil(H / CELL);
    const cnt = new Int32Array(gw * gh + 1), cell = new Int32Array(n).fill(-1);
    for (let i = 0; i < n; i++) { const cx = px(i), cy = py(i); if (cx < 0 || cy < 0 || cx >= W || cy >= H) continue;
      cell[i] = Math.floor(cy / CELL) * gw + Math.floor(cx / CELL); cnt[cell[i] + 1]++; }
    for (let k = 0; k < gw * gh; k++) cnt[k + 1] += cnt[k];
    gridStart = cnt; gridItems = new Int32Array(cnt[gw * gh]); const fill = cnt.slice(0, gw * gh);
    for (let i = 0; i < n; i++) if (cell[i] >= 0) gridItems[fill[cell[i]]++] = i;
  }
  // the whole picture: the painted points (repainted only when the view moved), then the vector marks and
  // ``overlay`` (a box or lasso being drawn: every mouse move redraws it, not the 200k points)
  function draw(overlay) {
    fit();
    const view = [W, H, sx, ox, oy].join(',');
    if (view !== paintedView) { painted = paint(); paintedView = view; index(); }
    ctx.putImageData(painted, 0, 0);
    if (anySelected && head.selected <= 200) {  // a few selected points: a ring each, so they are found at a glance
      ctx.strokeStyle = '#000'; ctx.lineWidth = 1.5;
      for (let i = 0; i < n; i++) if (flags[i] & SELECTED) { ctx.beginPath(); ctx.arc(px(i), py(i), 6, 0, 2 * Math.PI); ctx.stroke(); }
    }
    // lines from a picked image to its captions, the picked image, the query marker
    ctx.lineWidth = 1.5; ctx.strokeStyle = '#000';
    for (const [a, b, c, d] of head.lines) { ctx.beginPath(); ctx.moveTo(a * sx + ox, b * sy + oy); ctx.lineTo(c * sx + ox, d * sy + oy); ctx.stroke(); }
    if (head.highlight !== null && head.highlight < n) { ctx.lineWidth = 3; ctx.strokeRect(px(head.highlight) - 7, py(head.highlight) - 7, 14, 14); }
    if (head.marker) {
      const m = head.marker, cx = m.x * sx + ox, cy = m.y * sy + oy;
      ctx.beginPath();
      for (let k = 0; k < 10; k++) { const r = k % 2 ? 5 : 12, t = Math.PI / 5 * k - Math.PI / 2; ctx.lineTo(cx + r * Math.cos(t), cy + r * Math.sin(t)); }
      ctx.closePath(); ctx.fillStyle = 'gold'; ctx.fill(); ctx.lineWidth = 1.5; ctx.stroke();
      ctx.fillStyle = '#000'; ctx.fillText(m.label, cx + 14, cy - 10);
    }
    if (overlay) overlay();
    root.dataset.drawn = String(n);
  }

  function nearest(cx, cy, radius) {
    let best = -1, bd = radius * radius;
    const gx = Math.floor(cx / CELL), gy = Math.floor(cy / CELL), reach = Math.ceil(radius / CELL);
    for (let b = gy - reach; b <= gy + reach; b++) for (let a = gx - reach; a <= gx + reach; a++) {
      if (a < 0 || b < 0 || a >= gw || b >= gh) continue;
      const c = b * gw + a;
      for (let t = gridStart[c]; t < gridStart[c + 1]; t++) {
        const i = gridItems[t], d = (px(i) - cx) ** 2 + (py(i) - cy) ** 2;
        if (d < bd || (d === bd && (flags[i] & IMAGE))) { bd = d; best = i; }
      }
    }
    return best;
  }
  const label = i => (flags[i] & IMAGE) ? `image #${i}` : `caption #${i - head.n_images}`;

  // ---- interaction (listeners attached once; they read the latest data through root.__cur)
  root.__cur = { draw, nearest, label, toData, inside: null, n, send: rows => setTriggerValue('select', rows) };
  root.__cur.inside = (test) => { const out = []; for (let i = 0; i < n; i++) if (test(px(i), py(i))) out.push(i); return out; };
  // for tests and tools: where point i is on the screen
  root.__xmap = { n, nImages: head.n_images, x: X, y: Y, flags, screenOf: i => { const r = cv.getBoundingClientRect(); return [r.left + px(i), r.top + py(i)]; },
                  width: () => W, height: () => H };
  if (!root.__wired) {
    root.__wired = true;
    const pos = e => { const r = cv.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; };
    let drag = null;
    root.addEventListener('click', e => {
      const b = e.target.closest('button'); if (!b) return;
      if (b.dataset.mode) { root.__state.mode = b.dataset.mode; for (const o of root.querySelectorAll('button[data-mode]')) o.classList.toggle('on', o === b); }
      if (b.dataset.act === 'reset') { root.__state.view = null; root.__cur.draw(); }
    });
    cv.addEventListener('mousedown', e => {
      const [x, y] = pos(e), c = root.__cur;
      if (!root.__state.view) { const [cx, cy] = c.toData(cv.width / 2, cv.height / 2); root.__state.view = { cx, cy, zoom: 1 }; }
      drag = { x, y, path: [[x, y]] };
    });
    window.addEventListener('mousemove', e => {
      if (!root.isConnected) return;  // the page moved on: this map is gone
      const [x, y] = pos(e), c = root.__cur;
      if (!drag) {
        const inCanvas = x >= 0 && y >= 0 && x < cv.width && y < cv.height, i = inCanvas ? c.nearest(x, y, 8) : -1;
        if (i < 0) { tip.style.display = 'none'; return; }
        tip.textContent = c.label(i); tip.style.display = 'block';
        tip.style.left = Math.min(x + 14, cv.width - 120) + 'px'; tip.style.top = (y + cv.offsetTop + 12) + 'px';
        return;
      }
      drag.path.push([x, y]);
      const mode = root.__state.mode;
      if (mode === 'pan') {
        const [ax, ay] = c.toData(drag.x, drag.y), [bx, by] = c.toData(x, y), v = root.__state.view;
        root.__state.view = { cx: v.cx - (bx - ax), cy: v.cy - (by - ay), zoom: v.zoom };
        drag.x = x; drag.y = y; c.draw();
      } else c.draw(() => { ctx.save(); ctx.setLineDash([4, 3]); ctx.strokeStyle = '#333'; ctx.lineWidth = 1; ctx.beginPath();
        if (mode === 'box') ctx.rect(drag.path[0][0], drag.path[0][1], x - drag.path[0][0], y - drag.path[0][1]);
        else { ctx.moveTo(...drag.path[0]); for (const q of drag.path) ctx.lineTo(...q); ctx.closePath(); }
        ctx.stroke(); ctx.restore(); });
    });
    window.addEventListener('mouseup', e => {
      if (!drag || !root.isConnected) return;
      const d = drag, [x, y] = pos(e), c = root.__cur, mode = root.__state.mode; drag = null;
      const moved = d.path.some(([a, b]) => Math.abs(a - d.path[0][0]) + Math.abs(b - d.path[0][1]) > 4);
      if (!moved) {  // a click selects the point under it, unless it turns out to be half of a double-click
        clearTimeout(root.__click);
        const i = c.nearest(x, y, 8);
        if (i >= 0) root.__click = setTimeout(() => c.send([i]), 300);
        return;
      }
      if (mode === 'pan') return;
      let rows;
      if (mode === 'box') { const [ax, bx] = [Math.min(d.path[0][0], x), Math.max(d.path[0][0], x)], [ay, by] = [Math.min(d.path[0][1], y), Math.max(d.path[0][1], y)];
        rows = c.inside((px_, py_) => px_ >= ax && px_ <= bx && py_ >= ay && py_ <= by); }
      else { const poly = d.path; rows = c.inside((px_, py_) => { let inn = false;
        for (let a = 0, b = poly.length - 1; a < poly.length; b = a++) { const [xa, ya] = poly[a], [xb, yb] = poly[b];
          if ((ya > py_) !== (yb > py_) && px_ < (xb - xa) * (py_ - ya) / (yb - ya) + xa) inn = !inn; } return inn; }); }
      c.draw();
      if (rows.length) c.send(rows);
    });
    cv.addEventListener('dblclick', () => { clearTimeout(root.__click); root.__state.view = null; root.__cur.draw(); root.__cur.send([]); });
    cv.addEventListener('wheel', e => {
      e.preventDefault();
      const [x, y] = pos(e), c = root.__cur, [dx_, dy_] = c.toData(x, y);
      const v = root.__state.view || (() => { const [cx, cy] = c.toData(cv.width / 2, cv.height / 2); return { cx, cy, zoom: 1 }; })();
      const f = Math.exp(-e.deltaY * 0.0015), zoom = Math.min(400, Math.max(1, v.zoom * f)), k = v.zoom / zoom;
      root.__state.view = { cx: dx_ + (v.cx - dx_) * k, cy: dy_ + (v.cy - dy_) * k, zoom };
      c.draw();
    }, { passive: false });
    cv.addEventListener('mouseleave', () => { tip.style.display = 'none'; });
    if (window.ResizeObserver) new ResizeObserver(() => root.__cur.draw()).observe(root);
  }
  draw();
}
