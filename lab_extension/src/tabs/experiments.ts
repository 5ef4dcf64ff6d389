/**
 * Experiments: running and past experiments with their status, the sample-ratio-mismatch flag and the
 * primary metric's lift, and a Stop button (confirmed; the owner team or an admin).
 */
import { get, post } from '../api';
import { button, fmt, h, table, when } from '../dom';
import { IHost, ITab, act } from '../panel';

/** The primary metric's lift of the first treatment arm, from a results document, as text. */
function lift(results: any): string {
  const metric = (results?.metrics || [])[0];
  const arm = metric && (metric.arms || metric.comparisons || []).find((a: any) => a.lift !== undefined || a.relative_lift !== undefined);
  if (!arm) {
    return 'no data';
  }
  const value = arm.relative_lift ?? arm.lift;
  return `${metric.name}: ${fmt(typeof value === 'object' ? value.estimate : value * 100, 2)}${typeof value === 'object' ? '' : ' %'}`;
}

export class ExperimentsTab implements ITab {
  readonly id = 'experiments';
  readonly label = 'Experiments';

  async render(body: HTMLElement, host: IHost): Promise<void> {
    const experiments: any[] = await get('/v1/experiments');
    if (!experiments.length) {
      body.append(h('p', { class: 'mlplat-empty' }, 'No experiment yet: create one with %experiment create.'));
      return;
    }
    const results = await Promise.all(
      experiments.map(e =>
        e.status === 'draft' ? Promise.resolve(null) : get(`/v1/experiments/${encodeURIComponent(e.name)}/results`).catch(() => null)
      )
    );
    body.append(
      table(
        ['experiment', 'team', 'status', 'SRM', 'primary lift', 'since', ''],
        experiments.map((e, i) => [
          e.name,
          e.team,
          e.status,
          results[i]?.srm ? (results[i].srm.flag || results[i].srm.mismatch ? 'mismatch' : 'ok') : '—',
          results[i] ? lift(results[i]) : '—',
          when(e.started_at || e.created_at),
          e.status === 'running' ? button('Stop', () => void this.stop(e.name, host), `mlplat-stop-${e.name}`, 'mlplat-danger') : null
        ]),
        'mlplat-experiments'
      )
    );
  }

  private async stop(name: string, host: IHost): Promise<void> {
    if (await host.confirm('Stop experiment', `Stop ${name}? Every worker serves control within seconds.`, 'Stop')) {
      await act(host, () => post(`/v1/experiments/${encodeURIComponent(name)}/stop`, { reason: 'stopped from JupyterLab' }), () =>
        `${name} stopped`
      );
    }
  }
}
