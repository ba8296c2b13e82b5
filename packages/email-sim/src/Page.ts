/**
 * Cursor paging shared by `GET /messages` and `GET /log`: entries carry a `seq` starting at 1,
 * `after` is the last `seq` a reader has seen, and `next` is the cursor for the following page.
 */

/** Which slice of an append-only sequence to read. */
export interface PageQuery {
  /** Return entries with `seq > after` (default 0: from the start). */
  readonly after: number
  /** At most this many entries. */
  readonly limit: number
  /** Only entries whose time is at or after this epoch ms. */
  readonly since: number
}

/** One page and the cursor to pass as `after` for the next, or `null` at the end. */
export interface Page<A> {
  readonly items: ReadonlyArray<A>
  readonly next: number | null
}

/** Default and largest page sizes: big enough that 10,000 messages take one or two calls. */
export const defaultLimit = 1_000
export const maxLimit = 100_000

/** Reads `?after=&limit=&since=` (since as epoch ms or an ISO instant); bad values fall back. */
export const parsePageQuery = (params: URLSearchParams): PageQuery => {
  const after = Number(params.get("after") ?? 0)
  const limit = Number(params.get("limit") ?? defaultLimit)
  const sinceRaw = params.get("since")
  const since = sinceRaw === null ? 0 : /^\d+$/.test(sinceRaw) ? Number(sinceRaw) : Date.parse(sinceRaw)
  return {
    after: Number.isFinite(after) && after > 0 ? Math.floor(after) : 0,
    limit: Number.isFinite(limit) && limit > 0 ? Math.min(Math.floor(limit), maxLimit) : defaultLimit,
    since: Number.isFinite(since) ? since : 0
  }
}

/**
 * Scans seq numbers `first..last` (inclusive) for entries matching `query`; `timeOf` and `build`
 * read the entry with that seq.
 */
export const scan = <A>(
  first: number,
  last: number,
  query: PageQuery,
  timeOf: (seq: number) => number,
  build: (seq: number) => A
): Page<A> => {
  const items: Array<A> = []
  let seq = Math.max(first, query.after + 1)
  for (; seq <= last && items.length < query.limit; seq++) {
    if (timeOf(seq) >= query.since) items.push(build(seq))
  }
  return { items, next: seq <= last ? seq - 1 : null }
}
