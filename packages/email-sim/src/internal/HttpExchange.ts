/** Low-level request/response helpers for the node:http hot path. */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http"

/** Larger bodies are refused: a greeting is a few hundred bytes. */
const maxBodyBytes = 64 * 1024

/** Writes a JSON answer with an explicit length so keep-alive connections need no chunking. */
export const sendJson = (
  res: ServerResponse,
  status: number,
  body: unknown,
  headers?: OutgoingHttpHeaders
): void => {
  const text = JSON.stringify(body)
  res.writeHead(status, {
    ...headers,
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text)
  })
  res.end(text)
}

/** Reads the whole body as UTF-8; `undefined` when it is too large. */
export const readBody = (req: IncomingMessage, onBody: (body: string | undefined) => void): void => {
  let body = ""
  let tooLarge = false
  req.setEncoding("utf8")
  req.on("data", (chunk: string) => {
    if (tooLarge) return
    body += chunk
    if (body.length > maxBodyBytes) tooLarge = true
  })
  req.on("end", () => onBody(tooLarge ? undefined : body))
}

/** Parses JSON without throwing; `undefined` when malformed. */
export const parseJson = (text: string | undefined): unknown => {
  if (text === undefined || text.length === 0) return undefined
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** Whether the client has gone, so an answer would reach no one. */
export const clientGone = (res: ServerResponse): boolean => res.destroyed || res.socket === null || res.socket.destroyed
