#!/usr/bin/env node
/**
 * The `birthday` command: runs the bundled CLI (cli.cjs beside this file, built by
 * scripts/build.mjs) from V8's code cache. Compiling the 1 MB bundle is a large part of a cold
 * start and Node 20 has no compile cache of its own (module.enableCompileCache is Node 22), so
 * this keeps one: cli.cjs.cache, written by the build's first run and again whenever V8 rejects it
 * (another Node version) or the bundle changed since (its size and mtime are the key). Plain
 * CommonJS, so that starting it needs no ES module loader.
 */
"use strict"
const { readFileSync, renameSync, statSync, writeFileSync } = require("node:fs")
const { createRequire, wrap } = require("node:module")
const { join } = require("node:path")
const { setFlagsFromString } = require("node:v8")
const { Script } = require("node:vm")

// TurboFan waits for 8 times V8's interrupt budget (66 KB of bytecode run); set before the bundle
// runs anything, and read when a function's budget is, so it takes effect here. With the default,
// `--help` queued ~30 optimizing compiles (the fiber's runLoop the largest) that ran on helper
// threads beside it, and Node waits for them all before it exits: ~50 ms after the output, more
// on a loaded machine, where they also take CPU from the main thread. Long commands (a large
// import) are still optimized, a few ms of hot code later.
setFlagsFromString("--interrupt-budget=540672")

const bundle = join(__dirname, "cli.cjs")
const cacheFile = `${bundle}.cache`
const { mtimeMs, size } = statSync(bundle)
const key = Buffer.from(`${size}:${mtimeMs}\n`)

const readCache = () => {
  try {
    const cached = readFileSync(cacheFile)
    return cached.subarray(0, key.length).equals(key) ? cached.subarray(key.length) : undefined
  } catch {
    return undefined
  }
}

const cachedData = readCache()
const script = new Script(wrap(readFileSync(bundle, "utf8")), { filename: bundle, cachedData })
if (cachedData === undefined || script.cachedDataRejected) {
  // After the run, so the cache holds the functions it compiled too. Best effort: a read-only
  // install runs without one.
  process.once("exit", () => {
    try {
      const temporary = `${cacheFile}.${process.pid}`
      writeFileSync(temporary, Buffer.concat([key, script.createCachedData()]))
      renameSync(temporary, cacheFile)
    } catch {
      // no cache this time
    }
  })
}
const module_ = { exports: {} }
script.runInThisContext()(module_.exports, createRequire(bundle), module_, bundle, __dirname)
