import { Effect, Metric, MetricKeyType, MetricState } from "effect"
import type { MetricPair } from "effect"

const escapeLabel = (value: string): string =>
  value.replaceAll("\\", "\\\\").replaceAll("\n", "\\n").replaceAll("\"", "\\\"")

const sanitize = (name: string): string => name.replace(/[^a-zA-Z0-9_:]/g, "_")

const labels = (tags: ReadonlyArray<{ readonly key: string; readonly value: string }>, extra?: [string, string]) => {
  const all = tags.map(({ key, value }) => `${sanitize(key)}="${escapeLabel(value)}"`)
  if (extra) all.push(`${extra[0]}="${escapeLabel(extra[1])}"`)
  return all.length === 0 ? "" : `{${all.join(",")}}`
}

const number = (n: number | bigint): string =>
  typeof n === "bigint"
    ? n.toString()
    : n === Infinity
    ? "+Inf"
    : n === -Infinity
    ? "-Inf"
    : Number.isNaN(n)
    ? "NaN"
    : String(n)

interface Family {
  type: string
  help: string | undefined
  lines: Array<string>
}

const sample = (pair: MetricPair.MetricPair.Untyped, family: Family, name: string): void => {
  const { metricKey: key, metricState: state } = pair
  const tags = key.tags
  if (MetricState.isCounterState(state)) {
    family.lines.push(`${name}${labels(tags)} ${number(state.count)}`)
  } else if (MetricState.isGaugeState(state)) {
    family.lines.push(`${name}${labels(tags)} ${number(state.value)}`)
  } else if (MetricState.isHistogramState(state)) {
    let sawInf = false
    for (const [bound, count] of state.buckets) {
      if (bound === Infinity) sawInf = true
      family.lines.push(`${name}_bucket${labels(tags, ["le", number(bound)])} ${count}`)
    }
    if (!sawInf) family.lines.push(`${name}_bucket${labels(tags, ["le", "+Inf"])} ${state.count}`)
    family.lines.push(`${name}_sum${labels(tags)} ${number(state.sum)}`)
    family.lines.push(`${name}_count${labels(tags)} ${state.count}`)
  } else if (MetricState.isFrequencyState(state)) {
    for (const [value, count] of state.occurrences) {
      family.lines.push(`${name}${labels(tags, ["key", value])} ${count}`)
    }
  } else if (MetricState.isSummaryState(state)) {
    for (const [quantile, value] of state.quantiles) {
      family.lines.push(
        `${name}${labels(tags, ["quantile", String(quantile)])} ${number(value._tag === "Some" ? value.value : NaN)}`
      )
    }
    family.lines.push(`${name}_sum${labels(tags)} ${number(state.sum)}`)
    family.lines.push(`${name}_count${labels(tags)} ${state.count}`)
  }
}

const typeOf = (pair: MetricPair.MetricPair.Untyped): string => {
  const keyType = pair.metricKey.keyType
  return MetricKeyType.isCounterKey(keyType) || MetricKeyType.isFrequencyKey(keyType)
    ? "counter"
    : MetricKeyType.isGaugeKey(keyType)
    ? "gauge"
    : MetricKeyType.isHistogramKey(keyType)
    ? "histogram"
    : "summary"
}

/** Renders metric snapshots in the Prometheus text exposition format (0.0.4). */
export const renderPrometheus = (pairs: ReadonlyArray<MetricPair.MetricPair.Untyped>): string => {
  const families = new Map<string, Family>()
  for (const pair of pairs) {
    const name = sanitize(pair.metricKey.name)
    let family = families.get(name)
    if (family === undefined) {
      family = {
        type: typeOf(pair),
        help: pair.metricKey.description._tag === "Some" ? pair.metricKey.description.value : undefined,
        lines: []
      }
      families.set(name, family)
    }
    sample(pair, family, name)
  }
  const out: Array<string> = []
  for (const [name, family] of [...families].sort(([a], [b]) => a.localeCompare(b))) {
    if (family.help !== undefined) out.push(`# HELP ${name} ${family.help.replaceAll("\n", " ")}`)
    out.push(`# TYPE ${name} ${family.type}`, ...family.lines)
  }
  return out.join("\n") + "\n"
}

/** The content type Prometheus expects for the text format. */
export const prometheusContentType = "text/plain; version=0.0.4; charset=utf-8"

/** Every metric of this process, as Prometheus text. */
export const prometheusSnapshot: Effect.Effect<string> = Effect.map(Metric.snapshot, renderPrometheus)
