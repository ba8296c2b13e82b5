import { describe, expect, it } from "@effect/vitest"
import { readdirSync, readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { parse } from "yaml"

const root = fileURLToPath(new URL("../../../", import.meta.url))
const load = (path: string) => parse(readFileSync(`${root}${path}`, "utf8"), { merge: true })

// No Docker engine runs where the tests run, so the compose file is checked by parsing it.
describe("infra/compose.yaml", () => {
  const compose = load("infra/compose.yaml")

  it("defines the dependencies and the app's three roles", () => {
    expect(Object.keys(compose.services).sort()).toEqual(
      ["email-sim", "grafana", "jaeger", "nats", "postgres", "prometheus", "runner", "server"]
    )
    expect(compose.services.nats.command).toContain("-js")
    expect(compose.services.jaeger.ports).toContain("4318:4318")
  })

  it("configures the app through our variables, never PORT/HOST", () => {
    for (const role of ["server", "runner"]) {
      const env = compose.services[role].environment
      expect(env.DATABASE_URL, role).toMatch(/^postgres:\/\/.*@postgres:5432\//)
      expect(env.NATS_URL, role).toBe("nats://nats:4222")
      expect(env.OTEL_EXPORTER_OTLP_ENDPOINT, role).toBe("http://jaeger:4318")
      expect(env.PORT, role).toBeUndefined()
      expect(env.HOST, role).toBeUndefined()
    }
    expect(compose.services.server.environment.HTTP_PORT).toBe("8080")
    expect(compose.services.runner.environment.RUNNER_PORT).toBeDefined()
    expect(compose.services.runner.environment.EMAIL_SERVICE_URL).toBe("http://email-sim:8025")
  })

  it("scrapes the server and the runner where they serve /metrics", () => {
    const prometheus = load("infra/prometheus.yml")
    const targets = prometheus.scrape_configs.flatMap((job: any) => job.static_configs[0].targets)
    expect(targets).toEqual(["server:8080", `runner:${compose.services.runner.environment.RUNNER_METRICS_PORT}`])
  })

  it("has a GitHub workflow that runs check, lint and the tests with Postgres and NATS", () => {
    const workflow = load(".github/workflows/ci.yml")
    const job = workflow.jobs.test
    expect(Object.keys(job.services)).toEqual(["postgres"])
    expect(job.steps.find((step: any) => step.name === "NATS with JetStream").run).toContain("-js")
    expect(job.steps.map((step: any) => step.run).filter(Boolean)).toEqual(
      expect.arrayContaining(["pnpm check", "pnpm lint", "pnpm test"])
    )
  })

  // The metric names the code defines, as they appear in its source.
  const sources = ["runner", "server", "ledger", "telemetry"].flatMap((pkg) =>
    readdirSync(`${root}packages/${pkg}/src`).filter((file) => file.endsWith(".ts")).map((file) =>
      readFileSync(`${root}packages/${pkg}/src/${file}`, "utf8")
    )
  ).join("\n")
  const metricsIn = (expr: string) =>
    [...expr.matchAll(/\b((?:delivery|scheduler)_[a-z_]+)/g)].map((m) => m[1]!.replace(/_bucket$/, ""))

  it("has a Grafana dashboard whose every metric is one the code defines", () => {
    const dashboard = JSON.parse(readFileSync(`${root}infra/grafana/dashboards/birthday-scheduler.json`, "utf8"))
    const used = new Set<string>(
      dashboard.panels.flatMap((panel: any) => panel.targets.flatMap((target: any) => metricsIn(target.expr)))
    )
    expect(used.size).toBeGreaterThan(7)
    for (const metric of used) expect(sources, metric).toContain(`"${metric}"`)
  })

  it("loads alert rules on defined metrics, each with a severity and a runbook section that exists", () => {
    const prometheus = load("infra/prometheus.yml")
    expect(prometheus.rule_files).toEqual(["/etc/prometheus/alerts.yml"])
    expect(compose.services.prometheus.volumes).toContain("./alerts.yml:/etc/prometheus/alerts.yml:ro")
    const jobs = prometheus.scrape_configs.map((job: any) => job.job_name)
    const runbook = readFileSync(`${root}docs/runbook.md`, "utf8")
    const anchors = new Set([...runbook.matchAll(/^#{2,3} (.+)$/gm)].map((m) => m[1]!.trim().toLowerCase()))
    const rules = load("infra/alerts.yml").groups.flatMap((group: any) => group.rules)
    expect(rules.length).toBeGreaterThan(8)
    for (const rule of rules) {
      expect(["critical", "warning", "info"], rule.alert).toContain(rule.labels.severity)
      expect(rule.annotations.summary, rule.alert).toBeTruthy()
      expect(rule.annotations.runbook, rule.alert).toBe(`docs/runbook.md#${rule.alert.toLowerCase()}`)
      expect(anchors, rule.alert).toContain(rule.alert.toLowerCase())
      for (const metric of metricsIn(rule.expr)) expect(sources, `${rule.alert}: ${metric}`).toContain(`"${metric}"`)
      for (const [, job] of rule.expr.matchAll(/job="([^"]+)"/g)) expect(jobs, rule.alert).toContain(job)
    }
  })
})
