/**
 * The few system commands the multi-host harness runs (`ip`, `tc`, `initdb`): synchronous, so that
 * teardown also works from an exit handler, and loud when they fail.
 */
import { execFileSync } from "node:child_process"

/** Runs `command args…` and returns its stdout; throws with stderr when it exits non-zero. */
export const sh = (command: string, ...args: ReadonlyArray<string>): string => {
  try {
    return execFileSync(command, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })
  } catch (error) {
    const failed = error as { stderr?: string; status?: number }
    throw new Error(`${command} ${args.join(" ")} failed (${failed.status}): ${failed.stderr ?? String(error)}`)
  }
}

/** Like `sh`, for cleanup steps that may find nothing to clean: failures are ignored. */
export const shQuiet = (command: string, ...args: ReadonlyArray<string>): void => {
  try {
    execFileSync(command, args, { stdio: "ignore" })
  } catch {
    // already gone
  }
}

/** Whether a process with this pid exists. */
export const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as { code?: string }).code === "EPERM"
  }
}

/** Sends `signal` to `pid`, ignoring a process that is already gone. */
export const signal = (pid: number, name: NodeJS.Signals): void => {
  try {
    process.kill(pid, name)
  } catch {
    // already gone
  }
}

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Polls `check` every `everyMs` until it returns true; rejects after `timeoutMs` naming `label`. */
export const waitFor = async (
  label: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  everyMs = 100
): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for: ${label}`)
    await sleep(everyMs)
  }
}
