/**
 * Separate network hosts on one machine, made by the test itself: a Linux bridge on the machine
 * with an address in a private /24 chosen per run (10.231.X.0/24, used by nothing else here), and
 * one network namespace per host, joined to the bridge by a veth pair. Services bound to the
 * bridge address (`lab.gateway`) are reachable from every host; hosts reach each other across
 * their veths, so cluster RPC between runners really crosses a link that the test can cut.
 *
 * Faults: `cutLink` (the bridge port goes down: packets vanish silently both ways, nothing is
 * closed or reset, as on a real partition), `freeze` (SIGSTOP every process of the host),
 * `powerOff` (freeze, cut, SIGKILL: no FIN or RST ever leaves, as when a machine loses power).
 *
 * Everything a lab creates is recorded in a state file under /run/birthday-hosts; `destroy` removes
 * it all, an exit handler does so when the test process exits without it, and `cleanStaleLabs`
 * (called by `create`) removes what a killed run left (its owner pid is gone).
 */
import { randomBytes } from "node:crypto"
import { mkdirSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs"
import { LabProcess } from "./LabProcess.js"
import { alive, sh, shQuiet, signal, sleep } from "./Shell.js"

const stateDirectory = "/run/birthday-hosts"
const namespacePrefix = "bdh"

/** What a lab made, so that a later run can remove it when this one was killed. */
interface LabState {
  readonly owner: number
  readonly tag: string
  readonly bridge: string
  readonly namespaces: Array<string>
  readonly pids: Array<number>
  readonly directories: Array<string>
}

/** One host: a network namespace with one interface (`eth0`) on the lab's /24. */
export interface LabHost {
  readonly index: number
  readonly namespace: string
  readonly address: string
  /** The host-side end of its veth pair (a bridge port). */
  readonly port: string
}

const statePath = (tag: string) => `${stateDirectory}/${tag}.json`

const removeLab = (state: LabState) => {
  for (const namespace of state.namespaces) {
    const pids = namespacePids(namespace)
    for (const pid of pids) signal(pid, "SIGKILL")
  }
  for (const pid of state.pids) signal(pid, "SIGKILL")
  for (const namespace of state.namespaces) shQuiet("ip", "netns", "delete", namespace)
  shQuiet("ip", "link", "delete", state.bridge)
  for (const directory of state.directories) rmSync(directory, { recursive: true, force: true })
  try {
    unlinkSync(statePath(state.tag))
  } catch {
    // never written or already removed
  }
}

const namespacePids = (namespace: string): Array<number> => {
  try {
    return sh("ip", "netns", "pids", namespace).split(/\s+/).filter((s) => s !== "").map(Number)
  } catch {
    return []
  }
}

/** Removes the namespaces, bridges, processes and directories of labs whose owner process is gone. */
export const cleanStaleLabs = (): number => {
  mkdirSync(stateDirectory, { recursive: true })
  let removed = 0
  for (const file of readdirSync(stateDirectory)) {
    if (!file.endsWith(".json")) continue
    let state: LabState
    try {
      state = JSON.parse(readFileSync(`${stateDirectory}/${file}`, "utf8")) as LabState
    } catch {
      continue
    }
    if (alive(state.owner)) continue
    removeLab(state)
    removed++
  }
  // Namespaces of ours that no state file names (killed between creating one and recording it).
  const recorded = new Set<string>()
  for (const file of readdirSync(stateDirectory)) {
    try {
      const state = JSON.parse(readFileSync(`${stateDirectory}/${file}`, "utf8")) as LabState
      for (const namespace of state.namespaces) recorded.add(namespace)
    } catch {
      // unreadable: ignore
    }
  }
  for (const line of sh("ip", "netns", "list").split("\n")) {
    const namespace = line.split(" ")[0] ?? ""
    const owner = /^bdh-(\d+)-/.exec(namespace)?.[1]
    if (owner !== undefined && !recorded.has(namespace) && !alive(Number(owner))) {
      for (const pid of namespacePids(namespace)) signal(pid, "SIGKILL")
      shQuiet("ip", "netns", "delete", namespace)
      removed++
    }
  }
  return removed
}

/** A third octet no interface of this machine uses under 10.231.0.0/16. */
const freeSubnet = (): number => {
  const used = new Set<number>()
  for (const match of sh("ip", "-o", "-4", "addr", "show").matchAll(/inet 10\.231\.(\d+)\./g)) {
    used.add(Number(match[1]))
  }
  for (let tries = 0; tries < 500; tries++) {
    const octet = randomBytes(1)[0]!
    if (octet > 0 && octet < 255 && !used.has(octet)) return octet
  }
  throw new Error("no free 10.231.X.0/24 subnet")
}

export class HostLab {
  readonly hosts: Array<LabHost> = []
  private readonly processes: Array<LabProcess> = []
  private destroyed = false
  private readonly onExit = () => this.destroy()

  private constructor(private readonly state: LabState, readonly subnet: number) {
    process.once("exit", this.onExit)
  }

  /** The bridge's address: where the services every host reaches listen. */
  get gateway(): string {
    return `10.231.${this.subnet}.1`
  }

  get tag(): string {
    return this.state.tag
  }

  /** A bridge on a fresh private /24 and `hosts` namespaces on it. */
  static create(options: { readonly hosts: number }): HostLab {
    cleanStaleLabs()
    const tag = randomBytes(3).toString("hex")
    const subnet = freeSubnet()
    const state: LabState = {
      owner: process.pid,
      tag,
      bridge: `bdb${tag}`,
      namespaces: [],
      pids: [],
      directories: []
    }
    const lab = new HostLab(state, subnet)
    lab.save()
    try {
      sh("ip", "link", "add", state.bridge, "type", "bridge")
      sh("ip", "addr", "add", `${lab.gateway}/24`, "dev", state.bridge)
      sh("ip", "link", "set", state.bridge, "up")
      for (let i = 0; i < options.hosts; i++) lab.addHost()
    } catch (error) {
      lab.destroy()
      throw error
    }
    return lab
  }

  private save() {
    mkdirSync(stateDirectory, { recursive: true })
    writeFileSync(statePath(this.state.tag), JSON.stringify(this.state))
  }

  /** Adds a host: a namespace with `eth0` at 10.231.X.(10 + index) joined to the bridge. */
  addHost(): LabHost {
    const index = this.hosts.length
    const namespace = `${namespacePrefix}-${process.pid}-${this.state.tag}-${index}`
    const port = `bdv${this.state.tag}${index}`
    const peer = `bdp${this.state.tag}${index}`
    const address = `10.231.${this.subnet}.${10 + index}`
    this.state.namespaces.push(namespace)
    this.save()
    sh("ip", "netns", "add", namespace)
    sh("ip", "link", "add", port, "type", "veth", "peer", "name", peer)
    sh("ip", "link", "set", peer, "netns", namespace)
    sh("ip", "-n", namespace, "link", "set", peer, "name", "eth0")
    sh("ip", "-n", namespace, "addr", "add", `${address}/24`, "dev", "eth0")
    sh("ip", "-n", namespace, "link", "set", "lo", "up")
    sh("ip", "-n", namespace, "link", "set", "eth0", "up")
    sh("ip", "link", "set", port, "master", this.state.bridge)
    sh("ip", "link", "set", port, "up")
    const host: LabHost = { index, namespace, address, port }
    this.hosts.push(host)
    return host
  }

  /** A temporary directory removed with the lab; `owner` (a user name) gets it when given. */
  directory(name: string, owner?: string): string {
    const path = `/tmp/birthday-hosts-${this.state.tag}-${name}`
    rmSync(path, { recursive: true, force: true })
    mkdirSync(path, { recursive: true })
    if (owner !== undefined) sh("chown", owner, path)
    this.state.directories.push(path)
    this.save()
    return path
  }

  /** Starts a process on `host` (inside its namespace), or on the machine itself when `host` is undefined. */
  start(
    label: string,
    host: LabHost | undefined,
    command: string,
    args: ReadonlyArray<string>,
    options: { readonly env?: NodeJS.ProcessEnv; readonly cwd?: string; readonly uid?: number; readonly gid?: number } =
      {}
  ): LabProcess {
    const started = LabProcess.start(label, command, args, { ...options, namespace: host?.namespace })
    this.processes.push(started)
    if (host === undefined && started.pid > 0) {
      this.state.pids.push(started.pid)
      this.save()
    }
    return started
  }

  /** Every pid inside the host's namespace. */
  pids(host: LabHost): Array<number> {
    return namespacePids(host.namespace)
  }

  /** Partition: the host's bridge port goes down, so its packets (and those to it) are dropped silently. */
  cutLink(host: LabHost): void {
    sh("ip", "link", "set", host.port, "down")
  }

  /** Ends a partition. */
  restoreLink(host: LabHost): void {
    sh("ip", "link", "set", host.port, "up")
  }

  /** SIGSTOP to every process of the host. */
  freeze(host: LabHost): void {
    for (const pid of this.pids(host)) signal(pid, "SIGSTOP")
  }

  /** SIGCONT to every process of the host. */
  thaw(host: LabHost): void {
    for (const pid of this.pids(host)) signal(pid, "SIGCONT")
  }

  /**
   * Power loss: the host's processes freeze, its link goes, then they are killed. Nothing they had
   * open is closed towards the others: peers learn of it only from their own timeouts.
   */
  async powerOff(host: LabHost): Promise<void> {
    this.freeze(host)
    this.cutLink(host)
    for (const pid of this.pids(host)) signal(pid, "SIGKILL")
    for (let i = 0; i < 100 && this.pids(host).length > 0; i++) await sleep(50)
  }

  /** Stops every process, removes the namespaces, the bridge and the directories. Safe to call twice. */
  destroy(): void {
    if (this.destroyed) return
    this.destroyed = true
    process.removeListener("exit", this.onExit)
    for (const started of this.processes) if (started.running) signal(started.pid, "SIGKILL")
    removeLab(this.state)
  }
}
