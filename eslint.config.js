// @ts-check
import js from "@eslint/js";
import tseslint from "typescript-eslint";

/**
 * Import boundaries, enforced on the import specifiers (every import in this project is relative, with its
 * extension). Tests may import anything; product code never imports the simulator, tests or benchmarks.
 */
function boundaries() {
  const notTests = ["**/*.test.ts"];
  /** @param {string} dir @param {string} message */
  const folder = (dir, message) => ({ regex: `(^|/)${dir}/`, message });
  const packages = (/** @type {string[]} */ names, /** @type {string} */ message) =>
    names.map((name) => ({ name, message, allowTypeImports: true }));
  /** @param {string[]} files @param {{regex: string, message: string}[]} patterns @param {object[]} [paths] */
  const rule = (files, patterns, paths = []) => ({
    files,
    ignores: notTests,
    rules: { "no-restricted-imports": ["error", { patterns, paths }] },
  });
  const devOnly = [
    folder("sim", "src/ is what ships: it never imports the simulator (sim/)"),
    folder("test", "src/ is what ships: it never imports test code"),
    folder("bench", "src/ is what ships: it never imports benchmarks"),
  ];
  const io = "src/core and src/api decide and describe; they do no I/O (docs/design/README.md)";
  const lean = [
    ...packages(
      ["@kubernetes/client-node"],
      "its generated models are most of a component's memory: use src/kube/client.ts (types may be imported)",
    ),
    ...packages(["prom-client"], "2.2 MiB per process: use src/metrics (src/metrics/README.md)"),
  ];
  const httpModules = packages(
    ["node:http", "node:https"],
    "an ES import of node:http(s) evaluates its lazy exports and loads Node's bundled undici (~17 MiB RSS): " +
      'use process.getBuiltinModule("node:http") (types may be imported)',
  );
  return [
    rule(["src/**/*.ts"], devOnly),
    rule(
      ["src/core/**/*.ts"],
      [
        ...devOnly,
        ...["agent", "apiserver", "controller", "cli", "kube", "host", "deploy", "pki", "metrics"].map((d) =>
          folder(d, `src/core is pure: it imports only src/api (not src/${d})`),
        ),
        { regex: "^node:", message: io },
      ],
      packages(["@kubernetes/client-node", "fastify", "pino", "prom-client", "undici"], io),
    ),
    rule(
      ["src/api/**/*.ts"],
      [
        ...devOnly,
        ...["agent", "apiserver", "controller", "cli", "kube", "host", "deploy", "pki", "core", "metrics"].map((d) =>
          folder(d, `src/api is the contract: it imports no other folder of src (not src/${d})`),
        ),
        { regex: "^node:(?!util$)", message: io },
      ],
      packages(["@kubernetes/client-node", "fastify", "pino", "prom-client", "undici"], io),
    ),
    rule(
      ["src/agent/**/*.ts"],
      [
        ...devOnly,
        ...["apiserver", "controller", "cli", "kube", "deploy", "pki", "metrics"].map((d) =>
          folder(d, `the agent runs on every node and talks to the cluster only through the API server (not src/${d})`),
        ),
      ],
      [
        ...packages(
          ["@kubernetes/client-node", "fastify", "typebox", "undici", "pino", "prom-client"],
          "the agent must stay small: no Kubernetes client, server framework or validator library (ADR 0007)",
        ),
        ...httpModules,
      ],
    ),
    rule(
      ["src/controller/**/*.ts"],
      [
        ...devOnly,
        ...["agent", "apiserver", "cli", "deploy"].map((d) => folder(d, `the controller never imports src/${d}`)),
      ],
      [...lean, ...httpModules],
    ),
    rule(
      ["src/apiserver/**/*.ts"],
      [
        ...devOnly,
        ...["agent", "controller", "cli", "deploy"].map((d) => folder(d, `the API server never imports src/${d}`)),
      ],
      [...lean, ...httpModules],
    ),
    rule(["src/kube/**/*.ts"], devOnly, [...lean, ...httpModules]),
    rule(
      ["src/metrics/**/*.ts"],
      [
        ...devOnly,
        ...["agent", "apiserver", "controller", "cli", "kube", "host", "deploy", "pki", "core", "api", "logging"].map(
          (d) => folder(d, `src/metrics stands alone: the controller and the API server use it (not src/${d})`),
        ),
      ],
      httpModules,
    ),
    rule(
      ["src/cli/**/*.ts"],
      [
        ...devOnly,
        ...["agent", "apiserver", "controller"].map((d) =>
          folder(d, `the CLI reads the cluster through src/core and src/api, never a component's internals (src/${d})`),
        ),
      ],
    ),
    rule(["bench/**/*.ts"], [folder("test", "benchmarks use the simulator (sim/), never test code")]),
    rule(["sim/**/*.ts"], [folder("test", "the simulator is a development tool of its own: it never imports tests")]),
  ];
}

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "coverage/", "bench/results/"] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ["*.js"] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // Async work must never be dropped silently in an operator: every promise is awaited or handled.
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/restrict-template-expressions": ["error", { allowNumber: true, allowBoolean: true }],
      "@typescript-eslint/no-confusing-void-expression": "off",
      // @kubernetes/client-node models are classes, but the API takes plain JSON: object literals are the idiom.
      "@typescript-eslint/no-unsafe-class-instance-assignment": "off",
      // ...and its results are class instances that are spread into new request bodies all the time.
      "@typescript-eslint/no-misused-spread": "off",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
    },
  },
  // ---- The house's shape (docs/design/README.md#import-boundaries): which folder may import which. ----
  ...boundaries(),
  {
    // Test doubles often implement async interfaces without awaiting anything.
    files: ["**/*.test.ts", "test/**/*.ts"],
    rules: { "@typescript-eslint/require-await": "off" },
  },
  { files: ["**/*.js"], ...tseslint.configs.disableTypeChecked },
);
