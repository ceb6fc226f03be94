/**
 * The import rules of src/ (docs/architecture.md): no cycles; imports point down the layers
 *   model, util, errors, config  <  state (the database)  <  store, runtime, storage, resources, network, access
 *   (leaves, not each other)  <  templates (OS and app)  <  containers  <  api  <  daemon, cli
 * and the CLI reaches the daemon only through the API client. Violations that the tree had when
 * the rules came are listed in .dependency-cruiser-known-violations.json (CI fails on any new
 * one); the architecture step takes them out.
 */
const LEAVES = ['store', 'runtime', 'storage', 'resources', 'network', 'access'];
const leafRules = LEAVES.map((leaf) => ({
  name: `leaf-${leaf}`,
  comment: `${leaf} is a leaf: it imports only the state, model, util, errors, config and itself`,
  severity: 'error',
  from: { path: `^src/${leaf}/` },
  to: { path: '^src/', pathNot: [`^src/${leaf}/`, '^src/(state|util|errors|config|model)/'] },
}));

module.exports = {
  forbidden: [
    { name: 'no-circular', comment: 'no import cycles', severity: 'error', from: {}, to: { circular: true } },
    {
      name: 'bottom-stays-bottom', comment: 'model, util, errors and config import nothing of Strata above them', severity: 'error',
      from: { path: '^src/(util|errors|config|model)/' }, to: { path: '^src/', pathNot: '^src/(util|errors|config|model)/' },
    },
    ...leafRules,
    {
      name: 'state-below-leaves', comment: 'the database imports nothing of Strata but the bottom', severity: 'error',
      from: { path: '^src/state/' }, to: { path: '^src/', pathNot: '^src/(state|util|errors|config|model)/' },
    },
    {
      name: 'templates-below-containers', comment: 'templates (OS and application) never import the orchestrator, the API or the programs', severity: 'error',
      from: { path: '^src/(templates|state)/' }, to: { path: '^src/(containers|api|cli|daemon)/' },
    },
    {
      name: 'containers-below-api', comment: 'the orchestrator never imports the API or the programs', severity: 'error',
      from: { path: '^src/containers/' }, to: { path: '^src/(api|cli|daemon)/' },
    },
    {
      name: 'cli-through-client', comment: 'the CLI reaches the daemon only through the API client (its `daemon` command runs one)', severity: 'error',
      from: { path: '^src/cli/' }, to: { path: '^src/', pathNot: ['^src/cli/', '^src/api/client\\.ts$', '^src/daemon/index\\.ts$', '^src/(util|errors|config|model)/'] },
    },
    {
      name: 'no-test-imports-in-code', comment: 'shipped code never imports tests', severity: 'error',
      from: { path: '^src/', pathNot: '\\.test\\.ts$' }, to: { path: '(\\.test\\.ts|^test/)' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '\\.test\\.ts$|testing\\.ts$|conformance\\.ts$' },
  },
};
