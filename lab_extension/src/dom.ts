/** Small DOM builders for the panels: no framework, the panels are lists, tables and buttons. */

type Child = Node | string | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | ((ev: Event) => void) | undefined> = {},
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined) {
      continue;
    }
    if (typeof value === 'function') {
      el.addEventListener(key.replace(/^on/, ''), value);
    } else {
      el.setAttribute(key, value);
    }
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) {
      continue;
    }
    el.append(typeof child === 'string' ? document.createTextNode(child) : child);
  }
  return el;
}

export function table(headers: string[], rows: (Child | Child[])[][], testid?: string): HTMLTableElement {
  return h(
    'table',
    { class: 'mlplat-table', 'data-testid': testid },
    h('thead', {}, h('tr', {}, headers.map(x => h('th', {}, x)))),
    h('tbody', {}, rows.map(row => h('tr', {}, row.map(cell => h('td', {}, cell)))))
  );
}

export function button(label: string, onclick: () => void, testid?: string, cls = ''): HTMLButtonElement {
  return h('button', { class: `jp-Button mlplat-button ${cls}`.trim(), 'data-testid': testid, onclick }, label);
}

export function fmt(value: unknown, digits = 3): string {
  if (value === null || value === undefined) {
    return '—';
  }
  if (typeof value === 'number') {
    return Number.isInteger(value) ? String(value) : value.toFixed(digits);
  }
  return String(value);
}

export function when(iso: string | null | undefined): string {
  return iso ? iso.replace('T', ' ').slice(0, 19) : '—';
}

const ns = 'http://www.w3.org/2000/svg';

/** An empty SVG of the given size whose tooltip is ``title``. */
function svgBox(width: number, height: number, cls: string, title: string): SVGSVGElement {
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('width', String(width));
  svg.setAttribute('height', String(height));
  svg.setAttribute('class', cls);
  const label = document.createElementNS(ns, 'title');
  label.textContent = title;
  svg.append(label);
  return svg;
}

/** A small line plot (an SVG polyline) of a numeric history, oldest first. */
export function sparkline(values: number[], title: string, width = 160, height = 32): SVGSVGElement {
  const svg = svgBox(width, height, 'mlplat-sparkline', title);
  const finite = values.filter(v => Number.isFinite(v));
  if (finite.length) {
    const lo = Math.min(...finite);
    const hi = Math.max(...finite);
    const span = hi - lo || 1;
    const step = values.length > 1 ? (width - 4) / (values.length - 1) : 0;
    const points = values
      .map((v, i) => (Number.isFinite(v) ? `${2 + i * step},${height - 2 - ((v - lo) / span) * (height - 4)}` : ''))
      .filter(Boolean)
      .join(' ');
    const line = document.createElementNS(ns, 'polyline');
    line.setAttribute('points', points);
    line.setAttribute('fill', 'none');
    line.setAttribute('stroke', 'currentColor');
    line.setAttribute('stroke-width', '1.5');
    svg.append(line);
  }
  return svg;
}

/** A small x/y plot (an evaluation curve such as ROC or calibration) on the unit square. */
export function curve(xs: number[], ys: number[], title: string, size = 120): SVGSVGElement {
  const svg = svgBox(size, size, 'mlplat-curve', title);
  const frame = document.createElementNS(ns, 'rect');
  frame.setAttribute('width', String(size));
  frame.setAttribute('height', String(size));
  frame.setAttribute('fill', 'none');
  frame.setAttribute('stroke', 'var(--jp-border-color2)');
  const line = document.createElementNS(ns, 'polyline');
  line.setAttribute('points', xs.map((x, i) => `${x * size},${size - ys[i] * size}`).join(' '));
  line.setAttribute('fill', 'none');
  line.setAttribute('stroke', 'currentColor');
  line.setAttribute('stroke-width', '1.5');
  const text = document.createElementNS(ns, 'text');
  text.setAttribute('x', '4');
  text.setAttribute('y', '12');
  text.setAttribute('font-size', '10');
  text.textContent = title;
  svg.append(frame, line, text);
  return svg;
}
