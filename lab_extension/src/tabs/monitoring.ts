/**
 * Monitoring: the models of the user's teams with their newest processed hour (traffic, versions, drifted
 * columns, open alerts), the open alerts, and links to the Voila dashboards behind the hub's login.
 *
 * The fields read here are the platform API's answers (`GET /v1/monitoring/models`: ModelOverview,
 * `GET /v1/monitoring/alerts?state=open`: Alert); tests/unit/test_lab_monitoring_tab.py checks each one
 * against those schemas, so a renamed field fails a test instead of showing a blank cell.
 */
import { get, servicesUrl } from '../api';
import { h, table } from '../dom';
import { IHost, ITab } from '../panel';

const DASHBOARDS = 'dashboards/';

/** `GET /v1/monitoring/models`, one row (schema ModelOverview). */
export interface IModelOverview {
  model: string;
  team: string;
  hours: number;
  last_hour: string | null;
  last_count: number | null;
  versions: number[];
  drifted: string[];
  open_alerts: number;
}

/** `GET /v1/monitoring/alerts`, one row (schema Alert). */
export interface IAlert {
  id: number;
  model: string;
  team: string;
  figure: string;
  state: string;
  message: string;
  value: number | null;
  threshold: number | null;
  opened_hour: string | null;
  last_hour: string | null;
}

/** The overview of the caller's teams' models (the dashboards service's front page). */
export function dashboards(): string {
  return servicesUrl() + DASHBOARDS;
}

/** One model's dashboard: the door signs the user in through the hub and refuses other teams' models. */
export function modelDashboard(model: string): string {
  return `${dashboards()}models/${encodeURIComponent(model)}`;
}

/** An ISO hour as `2026-11-20 13:00` (UTC), or a dash. */
function hour(value: string | null | undefined): string {
  return value ? value.slice(0, 13).replace('T', ' ') + ':00' : '—';
}

export class MonitoringTab implements ITab {
  readonly id = 'monitoring';
  readonly label = 'Monitoring';

  async render(body: HTMLElement, _host: IHost): Promise<void> {
    const [models, alerts]: [IModelOverview[], IAlert[]] = await Promise.all([
      get('/v1/monitoring/models'),
      get('/v1/monitoring/alerts', { state: 'open' })
    ]);
    const link = (href: string, text: string, testid?: string) =>
      h('a', { href, target: '_blank', rel: 'noopener', 'data-testid': testid }, text);
    body.append(h('p', {}, link(dashboards(), 'Open the dashboards (every model of your teams)', 'mlplat-dashboards')));
    body.append(h('h4', {}, 'Models'));
    body.append(
      models.length
        ? table(
            ['model', 'team', 'last hour', 'predictions', 'versions', 'drifted', 'alerts', ''],
            models.map(m => [
              m.model,
              m.team || '—',
              m.last_hour ? hour(m.last_hour) : 'no data yet',
              m.last_count === null || m.last_count === undefined ? '—' : String(m.last_count),
              (m.versions || []).map(v => `v${v}`).join(', ') || '—',
              (m.drifted || []).join(', ') || '—',
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
            ['model', 'figure', 'alert', 'since', 'last', ''],
            alerts.map(a => [
              a.model,
              a.figure,
              a.message,
              hour(a.opened_hour),
              hour(a.last_hour),
              link(modelDashboard(a.model), 'dashboard')
            ]),
            'mlplat-alerts'
          )
        : h('p', { class: 'mlplat-empty' }, 'No open alert.')
    );
  }
}
