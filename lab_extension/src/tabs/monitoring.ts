/** Monitoring: open alerts per model and links to the Voila dashboards behind the hub's login. */
import { get, servicesUrl } from '../api';
import { h, table, when } from '../dom';
import { IHost, ITab } from '../panel';

export class MonitoringTab implements ITab {
  readonly id = 'monitoring';
  readonly label = 'Monitoring';

  async render(body: HTMLElement, _host: IHost): Promise<void> {
    const alerts: any[] = await get('/v1/monitoring/alerts');
    const dashboards = servicesUrl() + 'dashboards/';
    body.append(
      h('p', {}, h('a', { href: dashboards, target: '_blank', 'data-testid': 'mlplat-dashboards' }, 'Open the dashboards (all models of your teams)'))
    );
    body.append(h('h4', {}, 'Alerts'));
    body.append(
      alerts.length
        ? table(
            ['model', 'alert', 'since', 'state', ''],
            alerts.map(a => [
              a.model,
              a.message || a.rule || a.name,
              when(a.started_at || a.created_at),
              a.cleared_at ? 'cleared' : 'open',
              h('a', { href: `${dashboards}${encodeURIComponent(a.model)}`, target: '_blank' }, 'dashboard')
            ]),
            'mlplat-alerts'
          )
        : h('p', { class: 'mlplat-empty' }, 'No alert.')
    );
  }
}
