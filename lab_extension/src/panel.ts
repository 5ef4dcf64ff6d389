/**
 * The "Platform" sidebar: one tab per part of the platform, each a view over the platform API.
 *
 * A tab renders from scratch on every refresh (the refresh button, a timer while the panel is shown, and
 * after each action), so what it shows never drifts from the API. When the API is down or a part is not
 * built yet, the tab says so in place of its content and tries again on the next refresh.
 */
import { Widget } from '@lumino/widgets';

import { ApiError } from './api';
import { button, h } from './dom';

/** What a tab may ask of the application. */
export interface IHost {
  /** Put a code cell into the active notebook (or a new one) and show it. */
  insertCell(source: string): Promise<void>;
  /** Open a file of the user's home in JupyterLab. */
  openPath(path: string): Promise<void>;
  /** Ask the user to confirm; resolves true on "yes". */
  confirm(title: string, body: string, action: string): Promise<boolean>;
  /** Re-render the current tab. */
  refresh(): void;
  /** Show the outcome of an action above the tab; it stays until the next action. */
  notify(text: string, kind: 'ok' | 'refused' | 'failed' | 'pending'): void;
}

export interface ITab {
  readonly id: string;
  readonly label: string;
  /** Fill `body`; throw an ApiError to have the panel show why nothing can be shown. */
  render(body: HTMLElement, host: IHost): Promise<void>;
}

const REFRESH_MS = 30_000;

export class PlatformPanel extends Widget {
  private current: ITab;
  private readonly bar: HTMLElement;
  private readonly status: HTMLElement;
  private readonly message: HTMLElement;
  private readonly body: HTMLElement;
  private timer = 0;
  private generation = 0;

  constructor(
    private readonly tabs: ITab[],
    private readonly host: Omit<IHost, 'refresh' | 'notify'>
  ) {
    super();
    this.id = 'mlplat-platform';
    this.addClass('mlplat-panel');
    this.title.caption = 'Platform';
    this.current = tabs[0];
    this.bar = h('div', { class: 'mlplat-tabs', role: 'tablist' });
    this.status = h('div', { class: 'mlplat-status', 'data-testid': 'mlplat-status' });
    this.message = h('div', { class: 'mlplat-message', 'data-testid': 'mlplat-message' });
    this.body = h('div', { class: 'mlplat-body', 'data-testid': 'mlplat-body' });
    const header = h(
      'div',
      { class: 'mlplat-header' },
      h('span', { class: 'mlplat-title' }, 'Platform'),
      button('Refresh', () => this.refresh(), 'mlplat-refresh')
    );
    this.node.append(header, this.bar, this.status, this.message, this.body);
    this.drawBar();
  }

  /** Show a tab by id (the launcher commands and tests use it). */
  select(id: string): void {
    const tab = this.tabs.find(t => t.id === id);
    if (tab) {
      this.current = tab;
      this.message.replaceChildren();
      this.drawBar();
      this.refresh();
    }
  }

  refresh(): void {
    void this.draw();
  }

  protected onAfterShow(): void {
    this.refresh();
    this.timer = window.setInterval(() => this.refresh(), REFRESH_MS);
  }

  protected onBeforeHide(): void {
    window.clearInterval(this.timer);
  }

  dispose(): void {
    window.clearInterval(this.timer);
    super.dispose();
  }

  notify(text: string, kind: 'ok' | 'refused' | 'failed' | 'pending'): void {
    this.message.replaceChildren(h('div', { class: `mlplat-${kind}`, 'data-testid': `mlplat-${kind}` }, text));
  }

  private drawBar(): void {
    this.bar.replaceChildren(
      ...this.tabs.map(tab =>
        h(
          'button',
          {
            class: `mlplat-tab${tab === this.current ? ' mlplat-tab-active' : ''}`,
            role: 'tab',
            'aria-selected': String(tab === this.current),
            'data-testid': `mlplat-tab-${tab.id}`,
            onclick: () => this.select(tab.id)
          },
          tab.label
        )
      )
    );
  }

  private async draw(): Promise<void> {
    // A slow answer for a tab the user has left must not overwrite the tab now shown.
    const generation = ++this.generation;
    const tab = this.current;
    const next = h('div', { class: `mlplat-content mlplat-content-${tab.id}` });
    this.status.textContent = 'loading…';
    this.status.className = 'mlplat-status';
    try {
      await tab.render(next, {
        ...this.host,
        refresh: () => this.refresh(),
        notify: (text, kind) => this.notify(text, kind)
      });
      if (generation !== this.generation) {
        return;
      }
      this.body.replaceChildren(next);
      this.status.textContent = `updated ${new Date().toLocaleTimeString()}`;
    } catch (error) {
      if (generation !== this.generation) {
        return;
      }
      this.body.replaceChildren(explain(tab, error));
      this.status.textContent = '';
    }
  }
}

/** The message shown in place of a tab's content when it cannot be shown. */
export function explain(tab: ITab, error: unknown): HTMLElement {
  if (error instanceof ApiError && error.kind === 'not-built') {
    return h(
      'div',
      { class: 'mlplat-notice mlplat-not-built', 'data-testid': 'mlplat-not-built' },
      `${tab.label}: not built yet. This part of the platform is not in this installation's API; the tab fills in once it lands.`
    );
  }
  if (error instanceof ApiError && error.kind === 'down') {
    return h(
      'div',
      { class: 'mlplat-notice mlplat-down', 'data-testid': 'mlplat-down' },
      `The platform API is not reachable: ${error.message}. Is \`mlplat up\` running? This panel tries again every 30 s.`
    );
  }
  const message = error instanceof Error ? error.message : String(error);
  return h('div', { class: 'mlplat-notice mlplat-error', 'data-testid': 'mlplat-error' }, message);
}

/** Run an action; its outcome (the API's own message on a refusal) stays above the tab, which refreshes. */
export async function act(host: IHost, action: () => Promise<unknown>, done?: (answer: any) => string): Promise<void> {
  host.notify('working…', 'pending');
  try {
    const answer = await action();
    host.notify(done ? done(answer) : 'done', 'ok');
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const refused = error instanceof ApiError && error.kind === 'refused';
    host.notify(refused ? `Refused: ${message}` : message, refused ? 'refused' : 'failed');
  }
  host.refresh();
}
