import type { Server } from "node:http"

/**
 * The socket listens before the app is mounted (migrations, pools and handlers are built after
 * it); a request arriving in between would find no handler and never be answered. Until another
 * request listener exists, this one answers 503 with `Retry-After: 1`, so probes and clients
 * polling from the first millisecond always get an answer. Listeners already on `server` when
 * this is installed (ConnectionGuard's) do not answer requests and do not count as the app.
 */
export const answerWhileStarting = (server: Server): Server => {
  const before = server.listenerCount("request")
  return server.on("request", (_request, response) => {
    if (server.listenerCount("request") > before + 1) return
    response.writeHead(503, { "content-type": "application/json", "retry-after": "1", connection: "close" })
      .end(JSON.stringify({ _tag: "Starting", message: "The server is starting" }))
  })
}
