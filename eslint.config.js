// ESLint flat config. Besides the usual TypeScript rules, it keeps each third-party
// engine behind the one folder that owns it (HOUSE_STYLE.md), and keeps the
// dependency direction lib -> index -> catalog -> sync -> services -> clients.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Engines and the only folder allowed to import each. */
const engines = {
  'hnswlib-node': 'index',
  'apache-arrow': 'index',
  'drizzle-orm': 'catalog',
  'better-sqlite3': 'catalog',
  nats: 'sync',
  hono: 'services',
  '@hono/node-server': 'services',
};

const noEnum = {
  selector: 'TSEnumDeclaration',
  message: 'No TS enum: use an `as const` object and its union.',
};
/**
 * hnswlib-node's asynchronous calls abort the process when they finish on a thread being
 * torn down (issue 10): only the tracked loader in index/segment-store.ts may make one.
 */
const asyncNative = {
  selector: 'CallExpression[callee.property.name=/^(readIndex|writeIndex)$/]',
  message:
    'Asynchronous hnswlib calls go through loadSegment (tracked by native-calls.ts); use the *Sync form elsewhere.',
};

/** Folders in dependency order: a folder may import only from those before it. */
const layers = ['lib', 'index', 'catalog', 'sync', 'services', 'clients'];

function restrictionsFor(folder, { tests }) {
  const paths = Object.entries(engines)
    .filter(([, owner]) => owner !== folder)
    .map(([name, owner]) => ({
      name,
      message: `${name} is owned by ${owner}/; go through its index.ts`,
    }));
  const patterns = [
    ...Object.entries(engines)
      .filter(([, owner]) => owner !== folder)
      .map(([name, owner]) => ({ group: [`${name}/*`], message: `${name} is owned by ${owner}/` })),
  ];
  // Production code never reaches into the development tools, tests or benchmarks (its
  // own unit tests may use the harness in dev/).
  for (const tools of tests ? [] : ['dev', 'test', 'bench']) {
    patterns.push({
      group: [`**/${tools}/*`, `../${tools}`, `../../${tools}`],
      message: `${folder}/ is production code: it may not depend on ${tools}/ (development tools, tests, benchmarks)`,
    });
  }
  const pos = layers.indexOf(folder);
  if (pos >= 0) {
    for (const later of layers.slice(pos + 1)) {
      patterns.push({
        group: [`**/${later}/*`, `../${later}`, `../../${later}`],
        message: `${folder}/ may not depend on ${later}/ (dependency direction: ${layers.join(' -> ')})`,
      });
    }
  }
  return { paths, patterns };
}

export default tseslint.config(
  { ignores: ['node_modules/**', 'catalog/migrations/**', 'bench/results/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly' },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-restricted-syntax': ['error', noEnum, asyncNative],
    },
  },
  {
    // The one loader of segment graphs; it tracks the call (index/native-calls.ts).
    files: ['index/segment-store.ts'],
    rules: { 'no-restricted-syntax': ['error', noEnum] },
  },
  {
    // Tests read JSON answers field by field; typing every response shape there adds noise.
    files: ['test/**/*.ts', 'dev/harness/**/*.ts', '**/*.test.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  ...layers.map((folder) => ({
    files: [`${folder}/**/*.ts`],
    ignores: ['**/*.test.ts'],
    rules: { 'no-restricted-imports': ['error', restrictionsFor(folder, { tests: false })] },
  })),
  ...layers.map((folder) => ({
    files: [`${folder}/**/*.test.ts`],
    rules: { 'no-restricted-imports': ['error', restrictionsFor(folder, { tests: true })] },
  })),
);
