import { describe, expect, it } from 'vitest';
import { fitLabels, formatSampleTable } from '../src/sample-table.ts';

const sample = (name: string, labels: Record<string, string>, value: number) => ({ name, labels, value, timestampMs: 0 });

describe('the once table', () => {
  const long = {
    device: '/dev/mapper/a-very-long-volume-group-name-root',
    fstype: 'ext4',
    mountpoint: '/var/lib/containers/storage/overlay',
    extra: 'x',
  };
  const samples = [
    sample('node_load1', {}, 0.25),
    sample('node_filesystem_avail_bytes', long, 123456789012),
    sample(`node_${'very_'.repeat(15)}long_metric_name`, { cpu: '0' }, 1 / 3),
  ];

  it('fits 100 columns: long names and label sets cut with an ellipsis, and says how many rows', () => {
    const t = formatSampleTable(samples);
    const lines = t.text.trimEnd().split('\n');
    expect(lines.every((l) => l.length <= 100)).toBe(true);
    expect(lines[0]).toMatch(/^METRIC\s+LABELS\s+VALUE$/);
    expect(lines[1]).toMatch(/^node_load1\s+0\.25$/);
    expect(lines[2]).toMatch(/^node_filesystem_avail_bytes\s+device=\/dev\/mapper\/a-very-long-v… \+4\s+123456789012$/);
    expect(lines[3]).toMatch(/^node_(very_)+ve…\s+cpu=0\s+0\.33333333$/);
    expect(t.shortened).toBe(2);
  });

  it('--wide prints every name, label and digit whole', () => {
    const t = formatSampleTable(samples, Number.POSITIVE_INFINITY);
    expect(t.shortened).toBe(0);
    expect(t.text).toContain('mountpoint=/var/lib/containers/storage/overlay,extra=x');
    expect(t.text).toContain(samples[2]?.name);
    expect(t.text).toContain(String(1 / 3));
  });

  it('a label too long to show whole is cut and counted', () => {
    expect(fitLabels(['a=1', 'b=2'], 20)).toBe('a=1,b=2');
    expect(fitLabels(['a=1', 'b=2', 'c=3'], 8)).toBe('a=1… +2');
    expect(fitLabels(['name=abcdefghijkl', 'b=2'], 10)).toBe('name=a… +2');
  });
});
