export { WorkQueue, ManualClock, realClock } from './workqueue';
export type { Clock, ClockTimer, WorkQueueGetResult, WorkQueueMetrics, WorkQueueOptions } from './workqueue';
export {
  BucketRateLimiter,
  ItemExponentialFailureRateLimiter,
  MaxOfRateLimiter,
  defaultControllerRateLimiter,
} from './ratelimiter';
export type { RateLimiter, TimeSource } from './ratelimiter';
