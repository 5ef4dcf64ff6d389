/**
 * The launcher's "New feature set" and "New model": a notebook on the mlplat kernel whose cells walk
 * through the steps with the platform's magics, ready to edit and run.
 */

export interface ITemplate {
  readonly command: string;
  readonly label: string;
  readonly caption: string;
  readonly cells: { kind: 'markdown' | 'code'; source: string }[];
}

export const NEW_FEATURE_SET: ITemplate = {
  command: 'mlplat:new-feature-set',
  label: 'New feature set',
  caption: 'A notebook that defines, computes and serves a feature set',
  cells: [
    {
      kind: 'markdown',
      source:
        '# A new feature set\n\nA feature set is Spark SQL over the lake with entity keys, an event timestamp and an owner ' +
        'team. `{{ ds }}` is the date being computed. Change the name, team and query, then run the cells.'
    },
    { kind: 'code', source: '%mlplat whoami\n%mlplat tables' },
    {
      kind: 'code',
      source:
        '%%feature --name my_feature_set --entity user_id --timestamp event_ts --team MY_TEAM --ttl 7d --online ' +
        '--description "What these features describe"\n' +
        "SELECT user_id,\n       CAST(date_add('{{ ds }}', 1) AS TIMESTAMP) AS event_ts,\n" +
        '       COUNT(*) AS events_1d\nFROM events\n' +
        "WHERE ds = '{{ ds }}'\nGROUP BY user_id"
    },
    { kind: 'code', source: '%feature preview my_feature_set --limit 5' },
    { kind: 'code', source: '%feature compute my_feature_set --start 2026-11-14 --end 2026-11-20' },
    { kind: 'code', source: '%feature show my_feature_set' },
    { kind: 'code', source: '%feature materialize my_feature_set' }
  ]
};

export const NEW_MODEL: ITemplate = {
  command: 'mlplat:new-model',
  label: 'New model',
  caption: 'A notebook that builds an example set, trains, registers and deploys a model',
  cells: [
    {
      kind: 'markdown',
      source:
        '# A new model\n\nBuild a point-in-time-correct example set from a label set and feature sets, train a Model ' +
        'Pipeline, compare it with earlier versions and deploy it. The model builder (last cell) does the same by clicking.'
    },
    { kind: 'code', source: '%feature list' },
    { kind: 'code', source: '%examples build my_examples --labels LABEL_SET --features FEATURE_SET_A,FEATURE_SET_B' },
    {
      kind: 'code',
      source: '%train --examples my_examples --target LABEL_COLUMN --model xgboost --register my_model --team MY_TEAM'
    },
    { kind: 'code', source: '%model show my_model' },
    { kind: 'code', source: '%model compare my_model' },
    { kind: 'code', source: '%deploy my_model' },
    { kind: 'code', source: '%model builder' }
  ]
};
