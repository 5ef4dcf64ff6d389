/**
 * Experiments: running and past experiments with their status and phase, the sample-ratio-mismatch flag, the
 * primary metric's lift of each treatment arm with its interval, and a Stop button (confirmed; the owner team
 * or an admin; the API refuses anyone else with the reason, shown above the tab).
 *
 * The fields read here are the platform API's answers (`GET /v1/experiments`: Experiment,
 * `GET /v1/experiments/{name}/results`: Results, whose analyses are the results object the Experiment Manager
 * computes); tests/unit/test_lab_experiments_tab.py checks each one against those schemas and that object, so
 * a renamed field fails a test instead of showing a blank cell. A mismatched sample ratio means no lift can be
 * trusted: its warning is drawn above the table, before any number.
 */
import { get, post } from '../api';
import { button, fmt, h, table, when } from '../dom';
import { IHost, ITab, act } from '../panel';

/** `GET /v1/experiments`, one row (schema Experiment). */
export interface IExperiment {
  name: string;
  team: string;
  status: string;
  phase: number;
  started_at: string | null;
  ended_at: string | null;
}

/** `GET /v1/experiments/{name}/results` (schema Results): SRM first, then the analysis. */
export interface IResults {
  analysis: string;
  alpha: number;
  arms: IResultArm[];
  primary_metric: string;
  data: boolean;
  reason: string | null;
  trustworthy: boolean;
  warning: string | null;
  srm: ISrm | null;
  frequentist: IFrequentist | null;
  sequential: ISequential[] | null;
  timeline: ILift[];
}

/** One arm of the results' phase, control first (schema ResultArm). */
export interface IResultArm {
  name: string;
  model: string;
}

/** The sample-ratio check (the results' `srm`). */
export interface ISrm {
  p_value: number | null;
  untrustworthy: boolean;
}

/** The frequentist analysis (`frequentist`): one comparison per metric and treatment arm. */
export interface IFrequentist {
  comparisons: ILift[];
}

/** One treatment arm against control on one metric: a frequentist comparison or a point of the `timeline`. */
export interface ILift {
  metric: string | null;
  arm: string;
  diff: number | null;
  diff_ci: [number, number] | null;
  rel_lift: number | null;
  rel_lift_ci: [number, number] | null;
}

/** The sequential analysis (`sequential`, one per metric and treatment arm): the confidence sequence. */
export interface ISequential {
  metric: string | null;
  arm: string;
  difference: string;
  looks: ILook[];
  ci: [number, number] | null;
}

/** One daily look of a sequential test. */
export interface ILook {
  estimate: number | null;
}

const signed = (value: number, digits: number): string => (value > 0 ? '+' : '') + fmt(value, digits);

/** `+3.21 % (95 % CI -1.02 … +7.44 %)`, or null when the figure is missing. */
function figure(estimate: number | null | undefined, ci: [number, number] | null | undefined, percent: boolean,
                interval: string): string | null {
  if (estimate === null || estimate === undefined) {
    return null;
  }
  const scale = percent ? 100 : 1;
  const digits = percent ? 2 : 4;
  const unit = percent ? ' %' : '';
  const range = ci ? ` (${interval} ${signed(ci[0] * scale, digits)} … ${signed(ci[1] * scale, digits)}${unit})` : '';
  return `${signed(estimate * scale, digits)}${unit}${range}`;
}

/**
 * The primary metric's lift of one treatment arm, as text ('no data' when there is none yet): the analysis's
 * own figure where it has one (frequentist: corrected and CUPED-adjusted; sequential: the always-valid
 * confidence sequence), else the newest cumulative point of the timeline (Bayesian and bandit experiments).
 */
export function armLift(r: IResults, arm: string): string {
  if (!r.data) {
    return 'no data';
  }
  const level = `${fmt((1 - r.alpha) * 100, 1)} %`;
  const mine = (x: { metric: string | null; arm: string }) => x.metric === r.primary_metric && x.arm === arm;
  const seq = (r.sequential || []).find(mine);
  if (seq) {
    const last = seq.looks.length ? seq.looks[seq.looks.length - 1].estimate : null;
    const text = figure(last, seq.ci, seq.difference === 'relative', `${level} always-valid`);
    return text === null ? 'no data' : `${text}${seq.difference === 'relative' ? '' : ' (absolute)'}`;
  }
  const found = (r.frequentist?.comparisons || []).find(mine) || (r.timeline || []).filter(mine).pop();
  if (!found) {
    return 'no data';
  }
  return (
    figure(found.rel_lift, found.rel_lift_ci, true, `${level} CI`) ??
    (found.diff === null ? null : `${figure(found.diff, found.diff_ci, false, `${level} CI`)} (absolute)`) ??
    'no data'
  );
}

/** The SRM cell: a mismatch, a split as configured, or nothing to check yet. */
function srmFlag(r: IResults): string {
  if (!r.trustworthy) {
    return '⚠ mismatch';
  }
  return r.srm && r.srm.p_value !== null ? `ok (p ${fmt(r.srm.p_value, 3)})` : '—';
}

export class ExperimentsTab implements ITab {
  readonly id = 'experiments';
  readonly label = 'Experiments';

  async render(body: HTMLElement, host: IHost): Promise<void> {
    const experiments: IExperiment[] = await get('/v1/experiments');
    if (!experiments.length) {
      body.append(h('p', { class: 'mlplat-empty' }, 'No experiment yet: create one with %experiment create.'));
      return;
    }
    // a draft has assigned no one: no results to ask for
    const results: (IResults | string | null)[] = await Promise.all(
      experiments.map(e =>
        e.status === 'draft'
          ? Promise.resolve(null)
          : get<IResults>(`/v1/experiments/${encodeURIComponent(e.name)}/results`).catch(
              (error: Error) => `results unavailable: ${error.message}`
            )
      )
    );
    const known = (i: number): IResults | null => (typeof results[i] === 'object' ? (results[i] as IResults) : null);
    // an untrustworthy split comes first, above every number
    experiments.forEach((e, i) => {
      const r = known(i);
      if (r && !r.trustworthy) {
        body.append(
          h('div', { class: 'mlplat-notice mlplat-srm', 'data-testid': `mlplat-srm-${e.name}` }, `⚠ ${e.name}: ${r.warning}`)
        );
      }
    });
    body.append(
      table(
        ['experiment', 'team', 'status', 'phase', 'SRM', 'primary metric: lift per arm', 'started', ''],
        experiments.map((e, i) => {
          const r = known(i);
          const lifts = r
            ? [
                h('div', {}, r.primary_metric),
                ...r.arms.slice(1).map(a => h('div', { title: r.reason || '' }, `${a.name}: ${armLift(r, a.name)}`))
              ]
            : typeof results[i] === 'string'
              ? (results[i] as string)
              : '—';
          return [
            e.name,
            e.team,
            h('span', { 'data-testid': `mlplat-experiment-status-${e.name}` }, e.status),
            String(e.phase),
            r ? srmFlag(r) : '—',
            lifts,
            e.started_at ? when(e.started_at) : 'not started',
            e.status === 'running' ? button('Stop', () => void this.stop(e.name, host), `mlplat-stop-${e.name}`, 'mlplat-danger') : null
          ];
        }),
        'mlplat-experiments'
      )
    );
  }

  private async stop(name: string, host: IHost): Promise<void> {
    if (await host.confirm('Stop experiment', `Stop ${name}? Every worker serves control within seconds.`, 'Stop')) {
      await act(
        host,
        () => post<IExperiment>(`/v1/experiments/${encodeURIComponent(name)}/stop`, { reason: 'stopped from JupyterLab' }),
        (stopped: IExperiment) => `${stopped.name} ${stopped.status} at ${when(stopped.ended_at)}: everyone gets control`
      );
    }
  }
}
