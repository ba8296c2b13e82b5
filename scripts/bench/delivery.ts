/** `pnpm bench delivery`: end-to-end acknowledged sends/s vs a bare undici loop, clean and at 10% errors. */
import { runDeliveryBench } from "../../packages/runner/test/bench/DeliveryBench.js"

runDeliveryBench()
