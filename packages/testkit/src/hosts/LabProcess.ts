/**
 * A process the multi-host harness started, on the host side or inside a host's network namespace
 * (`ip netns exec` execs the command, so the pid is the program's own). Keeps the tail of its
 * output for failure reports; with `LAB_LOG_DIR` set, also appends all of it to
 * `<LAB_LOG_DIR>/<label>.log` (a restarted process appends to its earlier log).
 */
import { type ChildProcess, spawn, type SpawnOptions } from "node:child_process"
import { createWriteStream, mkdirSync } from "node:fs"
import { join } from "node:path"
import { signal, sleep } from "./Shell.js"

const outputLimit = 256 * 1024

export class LabProcess {
  private text = ""
  readonly exited: Promise<number | null>

  private constructor(readonly label: string, readonly child: ChildProcess) {
    const logDir = process.env["LAB_LOG_DIR"]
    const log = logDir === undefined || logDir === ""
      ? undefined
      : (mkdirSync(logDir, { recursive: true }),
        createWriteStream(join(logDir, `${label.replace(/[^\w.-]+/g, "_")}.log`), { flags: "a" }))
    if (log !== undefined) child.once("exit", () => log.end())
    const keep = (chunk: Buffer) => {
      log?.write(chunk)
      this.text += String(chunk)
      if (this.text.length > outputLimit) this.text = this.text.slice(-outputLimit / 2)
    }
    child.stdout?.on("data", keep)
    child.stderr?.on("data", keep)
    this.exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)))
    child.once("error", (error) => keep(Buffer.from(`spawn failed: ${String(error)}\n`)))
  }

  /** Starts `command args…`, in `namespace` when given. */
  static start(
    label: string,
    command: string,
    args: ReadonlyArray<string>,
    options: SpawnOptions & { readonly namespace?: string | undefined } = {}
  ): LabProcess {
    const { namespace, ...spawnOptions } = options
    const child = namespace === undefined
      ? spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], ...spawnOptions })
      : spawn("ip", ["netns", "exec", namespace, command, ...args], {
        stdio: ["ignore", "pipe", "pipe"],
        ...spawnOptions
      })
    return new LabProcess(label, child)
  }

  get pid(): number {
    return this.child.pid ?? -1
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null
  }

  /** The last part of what it printed. */
  output(): string {
    return this.text
  }

  /** Sends `name`; with `graceMs`, escalates to SIGKILL when it has not exited by then. Resolves on exit. */
  async stop(name: NodeJS.Signals = "SIGTERM", graceMs = 10_000): Promise<void> {
    if (!this.running) return
    signal(this.pid, name)
    const done = await Promise.race([this.exited.then(() => true), sleep(graceMs).then(() => false)])
    if (!done) {
      signal(this.pid, "SIGKILL")
      await this.exited
    }
  }
}
