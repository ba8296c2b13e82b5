/** The email provider simulator: start it in-process, configure it, and inspect what it received. */
export * as EmailSimAdmin from "./EmailSimAdmin.js"
export * as EmailSimulator from "./EmailSimulator.js"
export * as FaultPlan from "./FaultPlan.js"
export type { ReceivedMessage } from "./MessageLedger.js"
export type { LogEntry, Outcome } from "./RequestLog.js"
export * as SimulatorConfig from "./SimulatorConfig.js"
export type { RunningSimulator, SimulatorListenError } from "./SimulatorServer.js"
export type { SimulatorSettings, SimulatorStats } from "./SimulatorState.js"
