// Small line charts drawn as SVG by script (no inline style, no library).
// Values are numbers or null (a gap); the chart has a text alternative.
const NS = 'http://www.w3.org/2000/svg';

function svg(tag, attrs) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

/** A sparkline of values over a fixed window of n samples. */
export function sparkline(values, { n = 40, label = '', max } = {}) {
  const w = 240, ht = 48, pad = 3;
  const nums = values.filter((v) => typeof v === 'number' && Number.isFinite(v));
  const top = max ?? Math.max(1, ...nums);
  const root = svg('svg', { viewBox: `0 0 ${w} ${ht}`, class: 'spark', role: 'img', 'aria-label': label, preserveAspectRatio: 'none' });
  root.append(svg('line', { x1: 0, y1: ht - pad, x2: w, y2: ht - pad, class: 'axis' }));
  const start = n - values.length;
  let d = '', pen = false, last = null;
  values.forEach((v, i) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) { pen = false; return; }
    const x = ((start + i) / (n - 1)) * w;
    const y = ht - pad - (Math.min(v, top) / top) * (ht - 2 * pad);
    d += `${pen ? 'L' : 'M'}${x.toFixed(1)},${y.toFixed(1)} `;
    pen = true;
    last = [x, y];
  });
  if (d) root.append(svg('path', { d: d.trim(), class: 'line' }));
  if (last) root.append(svg('circle', { cx: last[0].toFixed(1), cy: last[1].toFixed(1), r: 3, class: 'dot' }));
  return root;
}
