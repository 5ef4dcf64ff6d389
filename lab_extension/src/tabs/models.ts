/**
 * Models: the Model Repository (versions, aliases, metrics, evaluation plots), versions compared side by
 * side, and the experiments a model takes part in.
 */
import { ApiError, get } from '../api';
import { curve, fmt, h, table, when } from '../dom';
import { IHost, ITab } from '../panel';

export class ModelsTab implements ITab {
  readonly id = 'models';
  readonly label = 'Models';
  private selected: string | null = null;

  async render(body: HTMLElement, host: IHost): Promise<void> {
    const models: any[] = await get('/v1/models');
    if (!models.length) {
      body.append(h('p', { class: 'mlplat-empty' }, 'No model registered yet: train one with %train or the model builder.'));
      return;
    }
    body.append(
      table(
        ['model', 'team', 'kind', 'latest', 'aliases', 'updated'],
        models.map(m => [
          h('a', { class: 'mlplat-link', 'data-testid': `mlplat-model-${m.name}`, onclick: () => this.open(m.name, host) }, m.name),
          m.team,
          m.kind,
          `v${m.latest_version}`,
          Object.entries(m.aliases || {}).map(([a, v]) => `${a}→v${v}`).join(', ') || '—',
          when(m.updated_at)
        ]),
        'mlplat-models'
      )
    );
    if (this.selected) {
      body.append(await this.detail(this.selected));
    }
  }

  private open(name: string, host: IHost): void {
    this.selected = name;
    host.refresh();
  }

  private async detail(name: string): Promise<HTMLElement> {
    const path = `/v1/models/${encodeURIComponent(name)}`;
    const [model, versions] = await Promise.all([get(path), get<any[]>(`${path}/compare`)]);
    const metricNames = [...new Set(versions.flatMap(v => Object.keys(v.metrics || {})))].sort();
    const box = h(
      'div',
      { class: 'mlplat-detail', 'data-testid': 'mlplat-model-detail' },
      h('h3', {}, `${name} (team ${model.team})`),
      h('p', {}, model.description || ''),
      h('h4', {}, 'Versions'),
      table(
        ['version', 'aliases', 'kind', 'example set', ...metricNames, 'by'],
        versions.map(v => [
          `v${v.version}`,
          (v.aliases || []).join(', ') || '—',
          v.kind,
          v.example_set,
          ...metricNames.map(m => fmt(v.metrics?.[m])),
          v.created_by
        ]),
        'mlplat-model-versions'
      )
    );
    box.append(h('h4', {}, `Evaluation of v${model.version}`));
    try {
      const report = await get(`${path}/report`, { version: model.version });
      const curves = report.curves || {};
      const plots = h('div', { class: 'mlplat-plots' });
      if (curves.roc) {
        plots.append(curve(curves.roc.fpr, curves.roc.tpr, 'ROC'));
      }
      if (curves.calibration) {
        plots.append(curve(curves.calibration.predicted, curves.calibration.observed, 'calibration'));
      }
      box.append(
        h('p', {}, `${report.task} on ${report.rows} held-out rows (${report.split} split)`),
        plots.childNodes.length ? plots : h('p', { class: 'mlplat-empty' }, 'no curve for this kind of model')
      );
    } catch (error) {
      box.append(h('p', { class: 'mlplat-empty' }, `no evaluation report: ${(error as Error).message}`));
    }
    box.append(h('h4', {}, 'Experiments'));
    try {
      const experiments: any[] = await get('/v1/experiments', { model: name });
      box.append(
        experiments.length
          ? table(
              ['experiment', 'status', 'arms'],
              // an Experiment answer holds its arms in its definition (`spec`), control first
              experiments.map(e => [e.name, e.status, (e.spec?.arms || []).map((a: any) => `${a.name}: ${a.model}`).join(' vs ')])
            )
          : h('p', { class: 'mlplat-empty' }, 'in no experiment')
      );
    } catch (error) {
      const notBuilt = error instanceof ApiError && error.kind === 'not-built';
      box.append(h('p', { class: 'mlplat-empty' }, notBuilt ? 'Experiments: not built yet.' : (error as Error).message));
    }
    return box;
  }
}
