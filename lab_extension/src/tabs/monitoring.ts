/**
 * Monitoring: the models of the user's teams with their latest state (traffic, drifted and skewed
 * features, open alerts), the open alerts, and links to the Voila dashboards behind the hub's login.
 */
import { get, servicesUrl } from '../api';
import { h, table } from '../dom';
import { IHost, ITab } from '../panel';

const DASHBOARDS = 'dashboards/';

/** The dashboard of one model (its page, parameterized by the model's name). */
export function modelDashboard(model: string): string {
  return `${servicesUrl()}${DASHBOARDS}voila/render/model.ipynb?model=${encodeURIComponent(model)}`;
}

export class MonitoringTab implements ITab {
  readonly id = 'monitoring';
  readonly label = 'Monitoring';

  async render(body: HTMLElement, _host: IHost): Promise<void> {
    const [models, alerts]: [any[], any[]] = await Promise.all([
      get('/v1/monitoring/models'),
      get('/v1/monitoring/alerts', { status: 'open' })
    ]);
    const link = (href: string, text: string, testid?: string) =>
      h('a', { href, target: '_blank', rel: 'noopener', 'data-testid': testid }, text);
    body.append(h('p', {}, link(servicesUrl() + DASHBOARDS, 'Open the dashboards (every model of your teams)', 'mlplat-dashboards')));
    body.append(h('h4', {}, 'Models'));
    body.append(
      models.length
        ? table(
            ['model', 'status', 'predictions 24 h', 'drifted', 'skewed', 'alerts', ''],
            models.map(m => [
              m.model,
              m.status,
              String(m.predictions_24h ?? '—'),
              (m.drifted || []).join(', ') || '—',
              (m.skewed || []).join(', ') || '—',
              String(m.open_alerts ?? 0),
              link(modelDashboard(m.model), 'dashboard')
            ]),
            'mlplat-monitored'
          )
        : h('p', { class: 'mlplat-empty' }, 'No monitored model of your teams yet: deploy one and serve traffic.')
    );
    body.append(h('h4', {}, 'Open alerts'));
    body.append(
      alerts.length
        ? table(
            ['model', 'version', 'severity', 'alert', 'since', ''],
            alerts.map(a => [
              a.model,
              `v${a.version}`,
              a.severity,
              a.message || a.rule,
              a.opened_hour,
              link(modelDashboard(a.model), 'dashboard')
            ]),
            'mlplat-alerts'
          )
        : h('p', { class: 'mlplat-empty' }, 'No open alert.')
    );
  }
}
