/**
 * Builds the `birthday` CLI: one CommonJS bundle (packages/cli/dist/cli.cjs) started by
 * dist/birthday.cjs (the package's `bin`, from packages/cli/launcher) from V8's code cache, so it
 * starts in a fraction of a second instead of compiling the workspace with tsx at every run. Runs
 * on `pnpm install` (prepare) and before `pnpm birthday`/`pnpm test`; plain JS so it needs no
 * loader. `node scripts/build.mjs [folder]` builds into another folder (the tests do); the folder
 * also gets meta.json, esbuild's account of what the bundle holds.
 */
import { build } from "esbuild"
import { execFileSync } from "node:child_process"
import { chmodSync, copyFileSync, mkdirSync, rmSync, writeFileSync } from "node:fs"
import { resolve } from "node:path"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("..", import.meta.url))
const dist = process.argv[2] ? resolve(process.argv[2]) : `${root}packages/cli/dist`
const bin = `${dist}/birthday.cjs`

rmSync(dist, { recursive: true, force: true })
mkdirSync(dist, { recursive: true })
const result = await build({
  entryPoints: [`${root}packages/cli/src/main.ts`],
  outfile: `${dist}/cli.cjs`,
  bundle: true,
  platform: "node",
  target: "node20",
  // CommonJS: V8's code cache (the launcher's) is for scripts; the commands' actions, imported
  // with import(), stay in the file but are evaluated only when a command runs.
  format: "cjs",
  // A smaller file parses faster: parsing is most of a cold start.
  minify: true,
  legalComments: "none",
  logLevel: "warning",
  metafile: true
})
writeFileSync(`${dist}/meta.json`, JSON.stringify(result.metafile))
copyFileSync(`${root}packages/cli/launcher/birthday.cjs`, bin)
chmodSync(bin, 0o755)
// The first run writes the code cache, with what `--help` compiles.
execFileSync(process.execPath, [bin, "--help"], { stdio: "ignore" })
