/** `pnpm bench scheduler`: scheduling, resident memory, burst lateness and fail-over of the runner. */
import { mainSchedulerBench } from "../../packages/runner/test/bench/SchedulerBench.js"

mainSchedulerBench()
