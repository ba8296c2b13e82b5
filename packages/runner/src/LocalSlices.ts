import { Context, Layer } from "effect"

/** The slices running in this process, so change notices are forwarded only by their owner. */
export class LocalSlices extends Context.Tag("@birthday/runner/LocalSlices")<LocalSlices, Set<number>>() {
  static readonly layer = Layer.sync(LocalSlices, () => new Set<number>())
}
