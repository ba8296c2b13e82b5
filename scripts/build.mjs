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
import { fileURLToPath, pathToFileURL } from "node:url"

const root = fileURLToPath(new URL("..", import.meta.url))
const dist = process.argv[2] ? resolve(process.argv[2]) : `${root}packages/cli/dist`
const bin = `${dist}/birthday.cjs`

/**
 * Packages the bundle would otherwise carry, and evaluate at every start, that no `birthday` code
 * path calls: each is replaced by a module with the same export names, every one a function that
 * throws. What reaches them, and why the CLI never gets there:
 * - yaml, toml, ini: only @effect/cli's internal/files.js imports them, for the parsers of
 *   Options.fileParse/fileSchema, Args.fileParse/fileSchema and ConfigFile; the commands use none
 *   of these (Args.file reads no content; --url/--token fall back to Config, not a config file).
 * - fast-check: only effect/FastCheck imports it, used by Arbitrary.make and Schema's arbitrary
 *   annotations, which run only when Arbitrary.make is called; nothing in the bundle calls it.
 * If one is ever reached, it fails loudly with this message rather than misbehave.
 */
const leftOut = ["yaml", "toml", "ini", "fast-check"]
const leaveOut = {
  name: "leave-out",
  setup(build) {
    build.onResolve({ filter: new RegExp(`^(${leftOut.join("|")})$`) }, async (args) => {
      if (args.pluginData === "real") return undefined
      const real = await build.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, pluginData: "real" })
      return { path: real.path, namespace: "left-out", pluginData: args.path }
    })
    build.onLoad({ filter: /.*/, namespace: "left-out" }, async (args) => {
      const names = Object.keys(await import(pathToFileURL(args.path).href)).filter((name) => name !== "default")
      const message = `${args.pluginData} is left out of the birthday CLI bundle (scripts/build.mjs)`
      return {
        contents: [
          `const leftOut = (name) => () => { throw new Error(${JSON.stringify(message)} + ": " + name + " is unavailable") }`,
          ...names.map((name) => `export const ${name} = leftOut(${JSON.stringify(name)})`)
        ].join("\n"),
        loader: "js"
      }
    })
  }
}

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
  metafile: true,
  plugins: [leaveOut]
})
writeFileSync(`${dist}/meta.json`, JSON.stringify(result.metafile))
copyFileSync(`${root}packages/cli/launcher/birthday.cjs`, bin)
chmodSync(bin, 0o755)
// The first run writes the code cache, with what `--help` compiles.
execFileSync(process.execPath, [bin, "--help"], { stdio: "ignore" })
