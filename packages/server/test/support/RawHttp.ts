import { Effect } from "effect"

/** A request sent as raw bytes, for inputs the typed client would refuse to send. */
export const rawRequest = (
  url: string,
  init: { method: string; body?: string; headers?: Record<string, string> }
) =>
  Effect.promise(async () => {
    const response = await fetch(url, {
      method: init.method,
      headers: { "content-type": "application/json", ...init.headers },
      ...(init.body === undefined ? {} : { body: init.body })
    })
    const text = await response.text()
    let json: any = undefined
    try {
      json = JSON.parse(text)
    } catch {
      json = undefined
    }
    return { status: response.status, headers: response.headers, text, json }
  })
