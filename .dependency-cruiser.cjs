// Wharf's floors, checked on every `npm test` (docs/ARCHITECTURE.md explains them):
//   core/  <-  protocol/  <-  media/, orchestrator/  <-  server/ (composition root)
// An arrow points at what a floor may import. Nothing imports upward, nothing imports
// the development orchestrator (it is a separate program), and there are no cycles.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "core-imports-nothing-of-ours",
      comment: "The ground floor (log, metrics, errors, ffmpeg, MPEG-TS) must not import any other floor.",
      severity: "error",
      from: { path: "^core/" },
      to: { path: "^(protocol|media|orchestrator|signer|server|test|bench)/" },
    },
    {
      name: "protocol-imports-only-core",
      comment: "The Livepeer protocol is a leaf library: it may use the ground floor only.",
      severity: "error",
      from: { path: "^protocol/" },
      to: { path: "^(media|orchestrator|signer|server|test|bench)/" },
    },
    {
      name: "media-imports-protocol-and-core",
      comment: "The data plane declares the interfaces server/ implements; it never reaches up into server/.",
      severity: "error",
      from: { path: "^media/" },
      to: { path: "^(orchestrator|server|test|bench)/" },
    },
    {
      name: "orchestrator-imports-protocol-and-core",
      comment: "The development orchestrator is a separate program: it shares the wire protocol, not the gateway. Its tests may start it as a process with test/support.",
      severity: "error",
      from: { path: "^orchestrator/" },
      to: { path: "^(media|server|test|bench)/", pathNot: "^test/support/" },
    },
    {
      name: "only-orchestrator-tests-use-test-support",
      comment: "test/support is for tests: the orchestrator program itself never imports it.",
      severity: "error",
      from: { path: "^orchestrator/", pathNot: "\\.test\\.ts$" },
      to: { path: "^test/" },
    },
    {
      name: "nothing-imports-the-orchestrator",
      comment: "Only the orchestrator's own files import it; others start it as a process.",
      severity: "error",
      from: { path: "^(core|protocol|media|server|bench|test)/" },
      to: { path: "^orchestrator/" },
    },
    {
      name: "nothing-imports-the-signer",
      comment: "The development remote signer is a separate program, like the orchestrator.",
      severity: "error",
      from: { pathNot: "^signer/" },
      to: { path: "^signer/" },
    },
    {
      name: "signer-imports-protocol-and-core",
      severity: "error",
      from: { path: "^signer/" },
      to: { path: "^(media|orchestrator|server|test|bench)/" },
    },
    {
      name: "server-is-not-imported-by-floors-below",
      comment: "server/ is the composition root; bench and tests may start it, nothing else imports it.",
      severity: "error",
      from: { path: "^(core|protocol|media|orchestrator|signer)/" },
      to: { path: "^server/" },
    },
    {
      name: "no-cycles",
      severity: "error",
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "(^|/)node_modules/|^dist/" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { exportsFields: ["exports"], conditionNames: ["import", "require", "node", "default"] },
  },
};
