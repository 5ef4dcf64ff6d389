/**
 * Features: find feature and label sets (text, team, entity, column), then one set's versions, schema,
 * lineage, quality history and freshness in Online Serving, and a button that puts its magic in a notebook.
 */
import { get } from '../api';
import { button, fmt, h, sparkline, table, when } from '../dom';
import { IHost, ITab } from '../panel';

interface IQuery {
  text: string;
  team: string;
  entity: string;
  column: string;
  kind: string;
}

export class FeaturesTab implements ITab {
  readonly id = 'features';
  readonly label = 'Features';
  private query: IQuery = { text: '', team: '', entity: '', column: '', kind: '' };
  private selected: { name: string; kind: string } | null = null;
  // The entity last read online, read again on each refresh so the answer stays current.
  private probe: { set: string; id: string } | null = null;

  async render(body: HTMLElement, host: IHost): Promise<void> {
    const q = this.query;
    const filtered = q.text || q.team || q.entity || q.column;
    const sets: any[] = filtered
      ? await get('/v1/features/search', { ...q, kind: q.kind || undefined })
      : await get('/v1/features', { kind: q.kind || undefined });
    body.append(this.form(host));
    if (!sets.length) {
      body.append(h('p', { class: 'mlplat-empty' }, filtered ? 'No set matches.' : 'No feature or label set yet.'));
    } else {
      body.append(
        table(
          ['set', 'kind', 'team', 'entity', 'v'],
          sets.map(s => [
            h('a', { class: 'mlplat-link', 'data-testid': `mlplat-set-${s.name}`, onclick: () => this.open(s, host) }, s.name),
            s.kind,
            s.spec.team,
            (s.spec.entity || []).join(', '),
            String(s.version)
          ]),
          'mlplat-feature-sets'
        )
      );
    }
    if (this.selected) {
      body.append(await this.detail(this.selected.name, this.selected.kind, host));
    }
  }

  private open(set: any, host: IHost): void {
    this.selected = { name: set.name, kind: set.kind };
    host.refresh();
  }

  private form(host: IHost): HTMLElement {
    const field = (key: keyof IQuery, placeholder: string) =>
      h('input', {
        class: 'jp-InputGroup mlplat-input',
        placeholder,
        value: this.query[key],
        'data-testid': `mlplat-search-${key}`,
        onchange: (ev: Event) => {
          this.query = { ...this.query, [key]: (ev.target as HTMLInputElement).value.trim() };
          host.refresh();
        }
      });
    const kind = h(
      'select',
      {
        class: 'mlplat-input',
        onchange: (ev: Event) => {
          this.query = { ...this.query, kind: (ev.target as HTMLSelectElement).value };
          host.refresh();
        }
      },
      ...['', 'features', 'labels'].map(k => {
        const opt = h('option', { value: k }, k || 'all kinds');
        opt.selected = k === this.query.kind;
        return opt;
      })
    );
    return h(
      'div',
      { class: 'mlplat-form' },
      field('text', 'search text'),
      field('team', 'team'),
      field('entity', 'entity'),
      field('column', 'column'),
      kind
    );
  }

  /** Whether the set is served online, its newest computed day, and a read of one entity as it is served. */
  private online(set: any, runs: any[]): HTMLElement {
    const entity = (set.spec.entity || []).join('_');
    const newest = runs.find(r => r.status === 'succeeded');
    const box = h('div', { 'data-testid': 'mlplat-freshness' });
    if (!set.spec.online) {
      box.append(h('p', {}, 'offline only (not materialized into Online Serving)'));
      return box;
    }
    box.append(h('p', {}, `online; newest computed day ${newest ? newest.ds : '—'}`));
    const id = h('input', { class: 'mlplat-input', placeholder: `${entity} id`, 'data-testid': 'mlplat-online-id' });
    const answer = h('div', { 'data-testid': 'mlplat-online-answer' });
    const read = async () => {
      this.probe = { set: set.name, id: id.value.trim() };
      try {
        const row = await get(`/v1/online/${encodeURIComponent(entity)}/${encodeURIComponent(id.value.trim())}`, {
          features: set.name
        });
        const ts = row.event_ts?.[set.name];
        answer.replaceChildren(
          row.found && ts
            ? h('span', {}, `${row.id}: served, event time ${when(ts)} (v${row.versions?.[set.name]})`)
            : h('span', { class: 'mlplat-empty' }, `${row.id}: not in Online Serving`)
        );
      } catch (error) {
        answer.replaceChildren(h('span', { class: 'mlplat-failed' }, (error as Error).message));
      }
    };
    box.append(h('div', { class: 'mlplat-form' }, id, button('Read online', () => void read(), 'mlplat-online-read')), answer);
    if (this.probe && this.probe.set === set.name) {
      id.value = this.probe.id;
      void read();
    }
    return box;
  }

  private async detail(name: string, kind: string, host: IHost): Promise<HTMLElement> {
    const [set, runs]: [any, any[]] = await Promise.all([
      get(`/v1/features/${encodeURIComponent(name)}`, { kind }),
      get(`/v1/features/${encodeURIComponent(name)}/runs`, { kind, limit: 30 })
    ]);
    const history = [...runs].reverse();
    const insert = kind === 'labels'
      ? `%examples build ${name}_examples --labels ${name} --features FEATURE_SET`
      : `%feature show ${name}`;
    return h(
      'div',
      { class: 'mlplat-detail', 'data-testid': 'mlplat-set-detail' },
      h('h3', {}, `${set.name} (${set.kind}, v${set.version})`),
      h('p', {}, set.spec.description || ''),
      h('p', {}, `versions: ${set.versions.join(', ')} · team ${set.spec.team} · by ${set.created_by}, ${when(set.created_at)}`),
      h('h4', {}, 'Schema'),
      table(['column', 'type', 'description'], set.schema.map((c: any) => [c.name, c.type, set.spec.columns?.[c.name] || ''])),
      h('h4', {}, 'Lineage'),
      h('p', {}, `reads: ${set.lineage.reads.join(', ') || '—'}`),
      h('p', {}, `used by: ${set.lineage.consumers.map((c: any) => c.name || c.ref || JSON.stringify(c)).join(', ') || '—'}`),
      h('h4', {}, 'Quality history'),
      history.length
        ? h(
            'div',
            {},
            sparkline(history.map(r => (r.rows === null ? NaN : r.rows)), `rows per run, ${history.length} runs`),
            h('span', { class: 'mlplat-note' }, ` rows per run; ${runs.filter(r => r.status !== 'succeeded').length} failed or refused`),
            table(
              ['ds', 'status', 'rows', 'missing %', 'checks'],
              runs.slice(0, 8).map(r => [
                r.ds,
                r.status,
                fmt(r.rows),
                fmt(r.missing_pct_total, 2),
                (r.checks || []).filter((c: any) => !c.ok).map((c: any) => c.name).join(', ') || 'all passed'
              ])
            )
          )
        : h('p', { class: 'mlplat-empty' }, 'not computed yet'),
      h('h4', {}, 'Online Serving'),
      this.online(set, runs),
      button('Insert into notebook', () => void host.insertCell(insert), 'mlplat-insert')
    );
  }
}
