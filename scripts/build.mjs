/**
 * Bundles the `birthday` CLI into one file (packages/cli/dist/birthday.js), so it starts in a
 * fraction of a second instead of compiling the workspace with tsx at every run. Runs on
 * `pnpm install` (prepare) and before `pnpm birthday`/`pnpm test`; plain JS so it needs no loader.
 */
import { build } from "esbuild"
import { chmodSync } from "node:fs"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("..", import.meta.url))
const outfile = `${root}packages/cli/dist/birthday.js`

await build({
  entryPoints: [`${root}packages/cli/src/main.ts`],
  outfile,
  bundle: true,
  platform: "node",
  target: "node20",
  format: "esm",
  // A smaller file parses faster: parsing is most of a cold start.
  minify: true,
  legalComments: "none",
  logLevel: "warning",
  // Bundled CommonJS dependencies still call require() for node built-ins.
  banner: {
    js: "#!/usr/bin/env node\nimport { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);"
  }
})
chmodSync(outfile, 0o755)
