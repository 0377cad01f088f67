// Flat config: recommended JS + TypeScript rules; generated, vendored and installed code is ignored.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'src/server/public/vendor/**', 'coverage/**', 'test-artifacts/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', Buffer: 'readonly', fetch: 'readonly', AbortController: 'readonly', structuredClone: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // The one ssh2 layer sits below everything that uses it: it may import only src/core (and node, ssh2).
    files: ['src/ssh/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['../*', '!../core', '!../core/*'], message: 'src/ssh may import only src/core' }] }],
    },
  },
  {
    files: ['src/server/public/**/*.js'],
    languageOptions: { globals: { window: 'readonly', document: 'readonly', localStorage: 'readonly', WebSocket: 'readonly', Notification: 'readonly', navigator: 'readonly', location: 'readonly', history: 'readonly', requestAnimationFrame: 'readonly', HTMLElement: 'readonly', Event: 'readonly', CustomEvent: 'readonly', Response: 'readonly', Blob: 'readonly', DecompressionStream: 'readonly' } },
  },
);
