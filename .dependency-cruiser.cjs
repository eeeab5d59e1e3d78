// Import direction of src/ (docs/ARCHITECTURE.md, "Layout and import direction").
// Each folder lists the folders it may import; anything else fails `npm run lint`.
// Higher tiers import lower ones, never the reverse:
//   cli → daemon → (dispatch, http, cluster) → (hosts, source, toolkit)
//       → (pyrpc, plugins, shotgrid, state, config, logging, metrics) → shared
// Same-tier imports allowed on purpose: hosts → toolkit (a Python host runs
// events in project runtimes), logging → config. site/ is the local ShotGrid
// site: it and the daemon meet only over HTTP.
const layers = {
  shared: [],
  shotgrid: ['shared'],
  state: ['shared'],
  config: ['shared'],
  plugins: ['shared'],
  pyrpc: ['shared'],
  metrics: ['shared'],
  logging: ['shared', 'config'],
  source: ['shared', 'shotgrid', 'config'],
  toolkit: ['shared', 'pyrpc', 'config', 'shotgrid'],
  hosts: ['shared', 'pyrpc', 'config', 'shotgrid', 'plugins', 'toolkit'],
  http: ['shared', 'metrics', 'config', 'logging'],
  dispatch: ['shared', 'shotgrid', 'state', 'config', 'plugins', 'logging', 'metrics', 'source', 'toolkit', 'hosts'],
  cluster: ['shared', 'shotgrid', 'state', 'config', 'plugins', 'logging', 'metrics', 'source', 'toolkit', 'hosts', 'dispatch'],
  daemon: ['shared', 'shotgrid', 'state', 'config', 'plugins', 'pyrpc', 'logging', 'metrics', 'source', 'toolkit', 'hosts', 'dispatch', 'http', 'cluster'],
  site: ['shared'],
  cli: ['shared', 'shotgrid', 'state', 'config', 'plugins', 'pyrpc', 'logging', 'metrics', 'source', 'toolkit', 'hosts', 'dispatch', 'http', 'cluster', 'daemon', 'site'],
};

const known = Object.keys(layers).join('|');
const forbidden = Object.entries(layers).map(([from, allowed]) => ({
  name: `layer-${from}`,
  comment: `src/${from}/ may import only: ${['itself', ...allowed].join(', ')}`,
  severity: 'error',
  from: { path: `^src/${from}/` },
  to: { path: `^src/(${known})/`, pathNot: [`^src/(${[from, ...allowed].join('|')})/`] },
}));

module.exports = {
  forbidden: [
    ...forbidden,
    {
      name: 'no-unknown-folder',
      comment: 'every folder of src/ has a place in the layers above',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^src/[^/]+/', pathNot: [`^src/(${known})/`] },
    },
    { name: 'no-circular', severity: 'error', from: { path: '^src/' }, to: { circular: true } },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '(^|/)(node_modules|dist)/' },
  },
};
