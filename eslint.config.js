import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'scratch/', '.scratch/', 'test-artifacts/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      eqeqeq: ['error', 'always'],
      'no-console': 'off',
    },
  },
  {
    // Browser pages (bundled by scripts/build-web.mjs).
    files: ['web/**/*.ts'],
    languageOptions: {
      globals: {
        window: 'readonly',
        document: 'readonly',
        HTMLElement: 'readonly',
        ResizeObserver: 'readonly',
        EventSource: 'readonly',
        WebSocket: 'readonly',
        fetch: 'readonly',
      },
    },
  },
  {
    // Build and maintenance scripts run by Node directly.
    files: ['scripts/**/*.mjs'],
    languageOptions: { globals: { URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly' } },
  },
);
