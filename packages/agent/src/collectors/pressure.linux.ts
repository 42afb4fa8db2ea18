import { NoDataError, parsePressure, procPath, readKernelFileOptional } from '../procfs/index.ts';
import { defineCollector } from './registry.ts';

const US = 1e6;

export default defineCollector({
  name: 'pressure',
  defaultEnabled: true,
  description: 'Pressure stall information (PSI) for CPU, I/O and memory from /proc/pressure.',
  create: () => ({
    update(out, { roots }) {
      const read = (r: string) => {
        const text = readKernelFileOptional(procPath(roots, 'pressure', r), true);
        return text === undefined ? undefined : parsePressure(text);
      };
      const cpu = read('cpu');
      const io = read('io');
      const memory = read('memory');
      if (!cpu && !io && !memory) throw new NoDataError(`${procPath(roots, 'pressure')} does not exist (kernel without PSI)`);
      if (cpu?.some) {
        out.counter(
          'node_pressure_cpu_waiting_seconds_total',
          'Seconds some runnable tasks waited for a CPU.',
          cpu.some.totalMicroseconds / US,
        );
      }
      if (io?.some)
        out.counter('node_pressure_io_waiting_seconds_total', 'Seconds some tasks waited for I/O.', io.some.totalMicroseconds / US);
      if (io?.full) {
        out.counter(
          'node_pressure_io_stalled_seconds_total',
          'Seconds all non-idle tasks were stalled on I/O at once.',
          io.full.totalMicroseconds / US,
        );
      }
      if (memory?.some) {
        out.counter(
          'node_pressure_memory_waiting_seconds_total',
          'Seconds some tasks waited for memory.',
          memory.some.totalMicroseconds / US,
        );
      }
      if (memory?.full) {
        out.counter(
          'node_pressure_memory_stalled_seconds_total',
          'Seconds all non-idle tasks were stalled on memory at once.',
          memory.full.totalMicroseconds / US,
        );
      }
    },
  }),
});
