/**
 * Jobs: scheduled notebooks and their runs, each run's executed notebook opened in JupyterLab (its
 * read-only copy under mlplat-runs/), and run now / pause / resume (the owner team or an admin).
 */
import { get, post } from '../api';
import { button, h, table, when } from '../dom';
import { IHost, ITab, act } from '../panel';

/** A run's executed notebook as a path in the user's home (the read-only mlplat-runs/ view). */
export function runPath(job: string, run: any): string | null {
  if (!run.output_url) {
    return null;
  }
  const file = String(run.output_url).split('/').pop();
  return `mlplat-runs/jobs/${job}/${run.id}/${file}`;
}

export class JobsTab implements ITab {
  readonly id = 'jobs';
  readonly label = 'Jobs';
  private selected: string | null = null;

  async render(body: HTMLElement, host: IHost): Promise<void> {
    const jobs: any[] = await get('/v1/jobs');
    if (!jobs.length) {
      body.append(h('p', { class: 'mlplat-empty' }, 'No scheduled notebook yet: %schedule create makes one.'));
      return;
    }
    const name = (n: string) => encodeURIComponent(n);
    body.append(
      table(
        ['job', 'team', 'schedule', 'state', ''],
        jobs.map(j => [
          h('a', { class: 'mlplat-link', 'data-testid': `mlplat-job-${j.name}`, onclick: () => this.open(j.name, host) }, j.name),
          j.team,
          j.cron,
          j.paused ? 'paused' : 'active',
          h(
            'span',
            { class: 'mlplat-actions' },
            button('Run now', () => void act(host, () => post(`/v1/jobs/${name(j.name)}/run`, {}), r => `${j.name}: run ${r.id} queued`), `mlplat-run-${j.name}`),
            j.paused
              ? button('Resume', () => void act(host, () => post(`/v1/jobs/${name(j.name)}/resume`), () => `${j.name} resumed`), `mlplat-resume-${j.name}`)
              : button('Pause', () => void act(host, () => post(`/v1/jobs/${name(j.name)}/pause`), () => `${j.name} paused`), `mlplat-pause-${j.name}`)
          )
        ]),
        'mlplat-jobs'
      )
    );
    if (this.selected && jobs.some(j => j.name === this.selected)) {
      body.append(await this.runs(this.selected, host));
    }
  }

  private open(job: string, host: IHost): void {
    this.selected = job;
    host.refresh();
  }

  private async runs(job: string, host: IHost): Promise<HTMLElement> {
    const runs: any[] = await get(`/v1/jobs/${encodeURIComponent(job)}/runs`, { limit: 20 });
    return h(
      'div',
      { class: 'mlplat-detail', 'data-testid': 'mlplat-job-runs' },
      h('h3', {}, `Runs of ${job}`),
      runs.length
        ? table(
            ['run', 'ds', 'status', 'started', 'notebook'],
            runs.map(r => {
              const path = runPath(job, r);
              return [
                String(r.id),
                r.ds,
                h('span', { title: r.error || '' }, r.status),
                when(r.started_at),
                path
                  ? h('a', { class: 'mlplat-link', 'data-testid': `mlplat-open-run-${r.id}`, onclick: () => void host.openPath(path) }, 'open')
                  : '—'
              ];
            })
          )
        : h('p', { class: 'mlplat-empty' }, 'no run yet')
    );
  }
}
