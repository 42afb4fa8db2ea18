import type { MetricWriter } from '../metrics.ts';
import { nativeHelpers } from '../native.ts';
import { defineCollector } from './registry.ts';

/** struct timex as adjtimex(2) fills it, plus the clock state it returned. */
export interface Timex {
  state: number;
  offset: number;
  freq: number;
  maxerror: number;
  esterror: number;
  status: number;
  constant: number;
  tick: number;
  ppsfreq: number;
  jitter: number;
  shift: number;
  stabil: number;
  jitcnt: number;
  calcnt: number;
  errcnt: number;
  stbcnt: number;
  tai: number;
}

const TIME_ERROR = 5;
const STA_NANO = 0x2000;
/** freq, ppsfreq and stabil are in parts per million with a 16-bit binary fraction. */
const PPM16 = 1e6 * 65536;

export function writeTimex(out: MetricWriter, t: Timex): void {
  // offset and jitter are in ns when the kernel runs in nanosecond mode, else in µs.
  const divisor = t.status & STA_NANO ? 1e9 : 1e6;
  out.gauge(
    'node_timex_sync_status',
    'Whether the clock is synchronised to a reliable server (1) or not (0).',
    t.state === TIME_ERROR ? 0 : 1,
  );
  out.gauge('node_timex_offset_seconds', 'Time offset between the local clock and its reference.', t.offset / divisor);
  out.gauge('node_timex_frequency_adjustment_ratio', 'Local clock frequency adjustment, as a ratio.', 1 + t.freq / PPM16);
  out.gauge('node_timex_maxerror_seconds', 'Maximum error estimate.', t.maxerror / 1e6);
  out.gauge('node_timex_estimated_error_seconds', 'Estimated error.', t.esterror / 1e6);
  out.gauge('node_timex_status', 'Clock status bits (STA_*).', t.status);
  out.gauge('node_timex_loop_time_constant', 'Phase-locked loop time constant.', t.constant);
  out.gauge('node_timex_tick_seconds', 'Seconds between clock ticks.', t.tick / 1e6);
  out.gauge('node_timex_pps_frequency_hertz', 'Pulse-per-second frequency.', t.ppsfreq / PPM16);
  out.gauge('node_timex_pps_jitter_seconds', 'Pulse-per-second jitter.', t.jitter / divisor);
  out.gauge('node_timex_pps_shift_seconds', 'Pulse-per-second interval duration.', t.shift);
  out.gauge('node_timex_pps_stability_hertz', 'Pulse-per-second stability, average of recent frequency changes.', t.stabil / PPM16);
  out.counter('node_timex_pps_jitter_total', 'Pulse-per-second jitter limit exceeded.', t.jitcnt);
  out.counter('node_timex_pps_calibration_total', 'Pulse-per-second calibration intervals.', t.calcnt);
  out.counter('node_timex_pps_error_total', 'Pulse-per-second calibration errors.', t.errcnt);
  out.counter('node_timex_pps_stability_exceeded_total', 'Pulse-per-second stability limit exceeded.', t.stbcnt);
  out.gauge('node_timex_tai_offset_seconds', 'International Atomic Time (TAI) offset.', t.tai);
}

export default defineCollector({
  name: 'timex',
  defaultEnabled: true,
  description: 'The kernel clock discipline (NTP offset, frequency, error estimates, PPS) from adjtimex(2).',
  create: () => ({
    update(out) {
      const native = nativeHelpers();
      if (native instanceof Error) throw native;
      writeTimex(out, native.adjtimex() as unknown as Timex);
    },
  }),
});
