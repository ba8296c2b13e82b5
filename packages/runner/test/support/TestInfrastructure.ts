/**
 * Vitest global setup: the suites need Postgres on 127.0.0.1:5432 and NATS with JetStream on
 * 127.0.0.1:4222. When both answer, nothing happens. Otherwise (a machine with only Node.js) a
 * helper process (TestInfrastructureProcess) starts a throwaway embedded Postgres and/or a
 * `nats-server -js` there, and stops them after the run. The helper's stdin is a pipe from this
 * process: when the run ends without its teardown (SIGTERM or SIGINT to vitest alone, a crash),
 * the pipe closes and the helper stops them too, leaving no orphaned Postgres or nats-server.
 */
import { spawn } from "node:child_process"
import { connect } from "node:net"
import { fileURLToPath } from "node:url"

/** Whether something accepts connections on 127.0.0.1:`port` (within half a second). */
export const answers = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect({ host: "127.0.0.1", port })
    const done = (result: boolean) => {
      socket.destroy()
      resolve(result)
    }
    socket.setTimeout(500, () => done(false))
    socket.once("connect", () => done(true))
    socket.once("error", () => done(false))
  })

export default async function setup(): Promise<(() => Promise<void>) | undefined> {
  if ((await answers(5432)) && (await answers(4222))) return undefined
  const entry = fileURLToPath(new URL("./TestInfrastructureProcess.ts", import.meta.url))
  const child = spawn(process.execPath, ["--import", "tsx", entry], { stdio: ["pipe", "pipe", "inherit"] })
  // Held open, never written: only its closing (this process gone) means something to the helper.
  const pipe = child.stdin as unknown as { unref?: () => void }
  pipe.unref?.()
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve))
  await new Promise<void>((resolve, reject) => {
    let output = ""
    child.stdout!.on("data", (chunk: Buffer) => {
      output += String(chunk)
      if (output.includes("\n")) {
        process.stdout.write(output)
        if (output.startsWith("test infrastructure: started")) resolve()
        else reject(new Error(output.trim()))
      }
    })
    void exited.then((code) => reject(new Error(`the test infrastructure could not start (exit ${code})`)))
  })
  return async () => {
    child.kill("SIGTERM")
    await exited
  }
}
