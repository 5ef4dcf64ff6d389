/**
 * Deployments: the live version of each model, the history of deploys, rollbacks and refusals with their
 * checks, a Deploy form and a Rollback button. Both are confirmed first; the API decides who may (the
 * owner team or an admin) and its reason is shown when it refuses.
 */
import { get, post } from '../api';
import { button, h, table, when } from '../dom';
import { IHost, ITab, act } from '../panel';

/** A deploy's checks in one line: how many passed, and the failed ones by step with their detail. */
function checks(list: any[]): HTMLElement {
  const failed = list.filter(c => c.ok === false);
  return h(
    'span',
    { title: list.map(c => `${c.step}: ${c.ok ? 'ok' : 'failed'} ${c.detail || ''}`).join('\n') },
    failed.length ? failed.map(c => `${c.step} failed: ${c.detail || ''}`).join('; ') : `${list.length} passed`
  );
}

export class DeploymentsTab implements ITab {
  readonly id = 'deployments';
  readonly label = 'Deployments';

  async render(body: HTMLElement, host: IHost): Promise<void> {
    const [models, history]: [any[], any[]] = await Promise.all([get('/v1/models'), get('/v1/deployments', { limit: 50 })]);
    body.append(h('h4', {}, 'Live'));
    body.append(
      models.length
        ? table(
            ['model', 'team', 'production', 'latest', ''],
            models.map(m => [
              m.name,
              m.team,
              m.aliases?.production ? `v${m.aliases.production}` : 'not deployed',
              `v${m.latest_version}`,
              m.aliases?.production
                ? button('Rollback', () => void this.rollback(m.name, host), `mlplat-rollback-${m.name}`, 'mlplat-danger')
                : null
            ]),
            'mlplat-live'
          )
        : h('p', { class: 'mlplat-empty' }, 'No model registered yet.')
    );
    if (models.length) {
      body.append(this.deployForm(models, host));
    }
    body.append(h('h4', {}, 'History'));
    body.append(
      history.length
        ? table(
            ['when', 'model', 'action', 'version', 'status', 'checks', 'by'],
            history.map(d => [
              when(d.created_at),
              d.model,
              d.action,
              d.previous_version ? `v${d.previous_version}→v${d.version}` : `v${d.version}`,
              h('span', { class: `mlplat-deploy-${d.status}`, title: d.message }, d.status),
              checks(d.checks || []),
              d.created_by
            ]),
            'mlplat-deploy-history'
          )
        : h('p', { class: 'mlplat-empty' }, 'Nothing deployed yet.')
    );
  }

  private deployForm(models: any[], host: IHost): HTMLElement {
    const model = h(
      'select',
      { class: 'mlplat-input', 'data-testid': 'mlplat-deploy-model' },
      ...models.map(m => h('option', { value: m.name }, m.name))
    );
    const version = h('input', {
      class: 'mlplat-input',
      type: 'number',
      min: '1',
      placeholder: 'latest',
      'data-testid': 'mlplat-deploy-version'
    });
    const deploy = async () => {
      const name = model.value;
      const v = version.value ? Number(version.value) : undefined;
      const what = v ? `${name} v${v}` : `the latest version of ${name}`;
      if (await host.confirm('Deploy', `Deploy ${what} to production? The checks run first.`, 'Deploy')) {
        await act(host, () => post('/v1/deployments', { model: name, version: v }), d =>
          `${d.model} v${d.version}: ${d.status}${d.message ? ` (${d.message})` : ''}`
        );
      }
    };
    return h('div', { class: 'mlplat-form' }, model, version, button('Deploy', () => void deploy(), 'mlplat-deploy'));
  }

  private async rollback(name: string, host: IHost): Promise<void> {
    if (await host.confirm('Roll back', `Roll ${name} back to the version live before? The checks run first.`, 'Roll back')) {
      await act(host, () => post(`/v1/deployments/${encodeURIComponent(name)}/rollback`), d =>
        `${d.model} rolled back to v${d.version}: ${d.status}`
      );
    }
  }
}
