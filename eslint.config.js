// Flat config: recommended JS + TypeScript rules, and the layer boundaries of src/ (docs/layout.md).
// Generated, vendored and installed code is ignored.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { importX } from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';

// Each layer and what it must never import. Imports go downward only:
//   commands → cli → (up | lxc | provision | keys | top) ; top → client → core
//   commands → cli → (up | lxc | provision | keys | client) → (steps | ssh | protocol) → core
//   server → (ssh | protocol | core);  paths.ts (where shipped files lie) is a leaf anyone may use.
const layers = ['commands', 'cli', 'up.ts', 'lxc', 'provision', 'keys', 'top', 'client', 'server', 'steps', 'ssh', 'protocol', 'core'];
const src = (name) => `./src/${name}`;
const everythingBut = (...allowed) => layers.filter((l) => !allowed.includes(l)).map(src);
const boundaries = [
  { target: src('core'), from: everythingBut('core'), message: 'core is the bottom layer: it imports nothing of fleetmon above it.' },
  { target: src('ssh'), from: everythingBut('ssh', 'core'), message: 'ssh is a base layer: core only.' },
  { target: src('protocol'), from: everythingBut('protocol', 'core'), message: 'protocol is a base layer: core only.' },
  { target: src('steps'), from: everythingBut('steps', 'core'), message: 'steps is a base layer: core only.' },
  ...['lxc', 'provision', 'keys', 'client'].map((name) => ({
    target: src(name),
    from: [src('commands'), src('cli'), src('server'), src('up.ts'), src('deploy'), src('top')],
    message: `${name} never imports the CLI, the commands, the server, top or the composition above it.`,
  })),
  { target: src('top'), from: everythingBut('top', 'client', 'core'), message: 'top (the terminal UI) imports only the client and core below it.' },
  { target: src('up.ts'), from: [src('commands'), src('cli'), src('server'), src('deploy'), src('top')], message: 'up composes the deploy layers; it never imports the CLI or the server.' },
  { target: src('deploy'), from: [src('commands'), src('cli'), src('server'), src('up.ts'), src('top')], message: 'deploy composes lxc, provision and keys; it never imports the CLI, the server or up.' },
  {
    target: src('server'),
    from: [src('commands'), src('cli'), src('lxc'), src('provision'), src('keys'), src('client'), src('steps'), src('up.ts'), src('deploy'), src('top')],
    message: 'the server imports only ssh, protocol and core below it.',
  },
  { target: src('cli'), from: [src('commands'), src('server')], message: 'cli serves the commands; it never imports a command or the server.' },
  { target: src('commands'), from: [src('commands')], except: [], message: 'a command never imports another command: move what they share into cli/.' },
];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'src/server/public/vendor/**', 'coverage/**', 'test-artifacts/**', 'bench/results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', Buffer: 'readonly', fetch: 'readonly', AbortController: 'readonly', structuredClone: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['src/**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      ...importX.flatConfigs.typescript.settings,
      'import-x/resolver': undefined,
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: './tsconfig.json' })],
    },
    rules: {
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      'import-x/no-restricted-paths': ['error', { zones: boundaries }],
    },
  },
  {
    files: ['src/server/public/**/*.js'],
    languageOptions: { globals: { window: 'readonly', document: 'readonly', localStorage: 'readonly', WebSocket: 'readonly', Notification: 'readonly', navigator: 'readonly', location: 'readonly', history: 'readonly', requestAnimationFrame: 'readonly', HTMLElement: 'readonly', Event: 'readonly', CustomEvent: 'readonly', Response: 'readonly', Blob: 'readonly', DecompressionStream: 'readonly' } },
  },
);
