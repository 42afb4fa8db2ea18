import { fields } from './fs.ts';
/**
 * /proc/interrupts: a header naming the CPUs, then per interrupt its name, one count per CPU and a
 * description. Numbered interrupts describe the controller then the devices
 * (`IO-APIC  2-edge  timer`); named ones (NMI, LOC) have a free text description.
 */
export interface InterruptLine {
  name: string;
  info: string;
  devices: string;
  counts: number[];
}

export interface Interrupts {
  cpus: string[];
  lines: InterruptLine[];
}

export function parseInterrupts(text: string): Interrupts {
  const lines = text.split('\n');
  const cpus = fields(lines[0] ?? '')
    .filter((c) => c.startsWith('CPU'))
    .map((c) => c.slice(3));
  const out: Interrupts = { cpus, lines: [] };
  for (let i = 1; i < lines.length; i++) {
    const p = fields(lines[i] as string);
    if (p.length < 2) continue;
    const name = (p[0] as string).replace(/:$/, '');
    const counts = p.slice(1, cpus.length + 1).map(Number);
    // ERR and MIS have a single total, not one count per CPU.
    if (counts.length < cpus.length || counts.some((c) => !Number.isFinite(c))) continue;
    const rest = p.slice(cpus.length + 1);
    if (/^\d+$/.test(name)) {
      out.lines.push({ name, info: rest[0] ?? '', devices: rest.slice(1).join(' '), counts });
    } else {
      out.lines.push({ name, info: rest.join(' '), devices: '', counts });
    }
  }
  return out;
}
