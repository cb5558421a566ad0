// `npm start` runs dist/server/main.js: src/main.ts and the JavaScript it imports in one file.
// Node 20 loads a few hundred ES modules (kysely alone is 279 files) far more slowly than one
// file of the same code, so one file starts the server in about half the time, in less memory
// (measured by `npm run bench`). Packages with native code stay outside: they load their .node
// files from their own folders. dist/server/ lies two levels below the repository, as
// dist/pages/ does, so `../../views` and `../../locales` in pages.ts name the same folders.
import { build } from 'esbuild'
import { fileURLToPath, pathToFileURL } from 'node:url'

const NATIVE = ['better-sqlite3', 'argon2', 'pg-native']
// Loaded only when the admin API is on (ADMIN_API=on): fastify's schema compilers and the OpenAPI
// generator. Left out, they cost the running server no memory for their source (about 1.4 MB);
// when needed they load from node_modules. node-postgres is loaded the same way, by connect.ts.
// Passkeys' @simplewebauthn/server and the enrolment page's qrcode load at their first use too.
const ON_DEMAND = ['@fastify/ajv-compiler', '@fastify/fast-json-stringify-compiler', '@fastify/swagger', '@simplewebauthn/server', 'qrcode']
const root = fileURLToPath(new URL('..', import.meta.url))

/** Writes the server bundle (and its source map) to `outfile`, relative to the repository. */
export async function bundleServer(outfile = 'dist/server/main.js') {
  await build({
    absWorkingDir: root,
    entryPoints: ['src/main.ts'],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: [...NATIVE, ...ON_DEMAND],
    // Smaller source to parse and keep; identifiers are not renamed, so stack traces read as they do unbundled.
    minifyWhitespace: true,
    minifySyntax: true,
    sourcemap: 'linked',
    legalComments: 'linked',
    logLevel: 'warning',
    // The CommonJS packages inside call require() for Node's own modules.
    banner: { js: "import { createRequire as __latchkeyRequire } from 'node:module'; const require = __latchkeyRequire(import.meta.url);" },
  })
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await bundleServer()
