/**
 * mlplat-lab: the Platform sidebar and the launcher's "New feature set" / "New model" for JupyterLab 4.
 */
import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { IDocumentManager } from '@jupyterlab/docmanager';
import { ILauncher } from '@jupyterlab/launcher';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { LabIcon } from '@jupyterlab/ui-components';

import { IHost, PlatformPanel } from './panel';
import { DeploymentsTab } from './tabs/deployments';
import { ExperimentsTab } from './tabs/experiments';
import { FeaturesTab } from './tabs/features';
import { JobsTab } from './tabs/jobs';
import { ModelsTab } from './tabs/models';
import { MonitoringTab } from './tabs/monitoring';
import { ITemplate, NEW_FEATURE_SET, NEW_MODEL } from './templates';

const KERNEL = 'mlplat';

const platformIcon = new LabIcon({
  name: 'mlplat:platform',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><g class="jp-icon3" fill="#616161">' +
    '<rect x="3" y="3" width="8" height="8" rx="1"/><rect x="13" y="3" width="8" height="8" rx="1"/>' +
    '<rect x="3" y="13" width="8" height="8" rx="1"/><circle cx="17" cy="17" r="4"/></g></svg>'
});

/** A new notebook on the mlplat kernel holding `template`'s cells. */
async function newNotebook(app: JupyterFrontEnd, template: ITemplate): Promise<NotebookPanel> {
  const panel: NotebookPanel = await app.commands.execute('notebook:create-new', { kernelName: KERNEL });
  await panel.context.ready;
  const model = panel.content.model!;
  model.sharedModel.transact(() => {
    model.sharedModel.deleteCellRange(0, model.sharedModel.cells.length);
    model.sharedModel.insertCells(
      0,
      template.cells.map(c => ({ cell_type: c.kind, source: c.source, metadata: {} }))
    );
  });
  // Kept at once, as a new file from the launcher is: closing it asks nothing, reopening shows the cells.
  await panel.context.save();
  return panel;
}

/** Add a code cell below the active one of the current notebook (a new notebook when none is open). */
async function insertCell(app: JupyterFrontEnd, tracker: INotebookTracker, source: string): Promise<void> {
  let panel = tracker.currentWidget;
  if (!panel) {
    panel = await app.commands.execute('notebook:create-new', { kernelName: KERNEL });
    await panel!.context.ready;
  }
  const notebook = panel!.content;
  const model = notebook.model!;
  const at = Math.min(notebook.activeCellIndex + 1, model.sharedModel.cells.length);
  model.sharedModel.insertCell(at, { cell_type: 'code', source, metadata: {} });
  notebook.activeCellIndex = at;
  app.shell.activateById(panel!.id);
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'mlplat-lab:plugin',
  description: 'The mlplat Platform sidebar and launcher items',
  autoStart: true,
  requires: [INotebookTracker, IDocumentManager],
  optional: [ILauncher, ILayoutRestorer],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    docs: IDocumentManager,
    launcher: ILauncher | null,
    restorer: ILayoutRestorer | null
  ) => {
    const host: Omit<IHost, 'refresh' | 'notify'> = {
      insertCell: source => insertCell(app, tracker, source),
      openPath: async path => {
        docs.openOrReveal(path);
      },
      confirm: async (title, body, action) => {
        const result = await showDialog({
          title,
          body,
          buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: action })]
        });
        return result.button.accept;
      }
    };
    const panel = new PlatformPanel(
      [new FeaturesTab(), new ModelsTab(), new DeploymentsTab(), new ExperimentsTab(), new JobsTab(), new MonitoringTab()],
      host
    );
    panel.title.icon = platformIcon;
    app.shell.add(panel, 'left', { rank: 250 });
    if (restorer) {
      restorer.add(panel, 'mlplat-platform');
    }

    app.commands.addCommand('mlplat:open-platform', {
      label: 'Show the Platform sidebar',
      execute: args => {
        app.shell.activateById(panel.id);
        if (args.tab) {
          panel.select(String(args.tab));
        }
      }
    });
    for (const template of [NEW_FEATURE_SET, NEW_MODEL]) {
      app.commands.addCommand(template.command, {
        label: template.label,
        caption: template.caption,
        icon: platformIcon,
        execute: () => newNotebook(app, template)
      });
      if (launcher) {
        launcher.add({ command: template.command, category: 'mlplat', rank: 1 });
      }
    }
  }
};

export default plugin;
