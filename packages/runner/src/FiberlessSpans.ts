import { Context, Effect, Exit, Option, type Tracer } from "effect"

/**
 * Spans started and ended without a fiber, for the per-message steps of the delivery path (a
 * thousand messages a second): the layer's tracer and clock are captured once, so a span costs
 * what the tracer's own span costs, not an effect run. The spans are those `Effect.withSpan`
 * would make; only fiber-level span annotations and links are not inherited.
 */
export interface FiberlessSpans {
  readonly start: (
    name: string,
    parent: Tracer.AnySpan | undefined,
    kind: Tracer.SpanKind,
    attributes: Readonly<Record<string, unknown>>
  ) => Tracer.Span
  /** Ends a span successfully, after setting `attributes`. */
  readonly end: (span: Tracer.Span, attributes?: Readonly<Record<string, unknown>>) => void
}

/** Captures the current tracer and clock. */
export const fiberlessSpans: Effect.Effect<FiberlessSpans> = Effect.map(
  Effect.all([Effect.tracer, Effect.clock]),
  ([tracer, clock]) => ({
    start: (name, parent, kind, attributes) => {
      const span = tracer.span(
        name,
        Option.fromNullable(parent),
        Context.empty(),
        [],
        clock.unsafeCurrentTimeNanos(),
        kind,
        { captureStackTrace: false }
      )
      for (const key in attributes) span.attribute(key, attributes[key])
      return span
    },
    end: (span, attributes) => {
      if (attributes !== undefined) { for (const key in attributes) span.attribute(key, attributes[key]) }
      span.end(clock.unsafeCurrentTimeNanos(), Exit.void)
    }
  })
)
