import { describe, expect, it } from 'vitest';
import { type FlagSpec, parseArgs, UsageError } from '../src/cli.ts';

const option = (key: string, opt: string) =>
  key === 'cpu' && opt === 'info' ? 'boolean' : key === 'textfile' && opt === 'directory' ? 'string' : undefined;
const parse = (argv: string[]) => parseArgs(argv, [{ name: 'debug', type: 'boolean', help: '' }], [{ prefix: 'collector', option }]);

describe('parseArgs pattern flags', () => {
  it('switches collectors on and off', () => {
    const a = parse(['run', '--collector.tcpstat', '--no-collector.cpu', '--collector.hwmon=false']);
    expect(Object.fromEntries(a.patterned.get('collector') ?? [])).toEqual({ tcpstat: true, cpu: false, hwmon: false });
  });

  it('takes collector options with a value, inline or as the next argument, and boolean options as switches', () => {
    const a = parse(['--collector.textfile.directory', '/var/lib/x', '--collector.cpu.info', '--no-collector.cpu.info=false', '--debug']);
    expect(a.patternedOptions.get('collector')).toEqual([
      { key: 'textfile', option: 'directory', value: '/var/lib/x', flag: '--collector.textfile.directory' },
      { key: 'cpu', option: 'info', value: true, flag: '--collector.cpu.info' },
      { key: 'cpu', option: 'info', value: true, flag: '--no-collector.cpu.info' },
    ]);
    expect(parse(['--collector.textfile.directory=/d']).patternedOptions.get('collector')?.[0]?.value).toBe('/d');
    expect(parse(['--collector.cpu.info=false']).patternedOptions.get('collector')?.[0]?.value).toBe(false);
  });

  it('refuses unknown options, missing values and negated value options', () => {
    expect(() => parse(['--collector.textfile.nope=1'])).toThrow(new UsageError('unknown flag --collector.textfile.nope'));
    expect(() => parse(['--collector.textfile.directory'])).toThrow(/--collector.textfile.directory needs a value/);
    expect(() => parse(['--collector.textfile.directory', '--debug'])).toThrow(/needs a value/);
    expect(() => parse(['--no-collector.textfile.directory=x'])).toThrow(/takes a value and cannot be negated/);
    expect(() => parse(['--collector.cpu.info=maybe'])).toThrow(/expected true or false/);
    expect(() => parseArgs(['--collector.a.b'], [], ['collector'])).toThrow(/"a.b" is not a valid name/);
  });
});

describe('unknown flags', () => {
  const specs: FlagSpec[] = [
    { name: 'config', type: 'string', help: '' },
    { name: 'listen', type: 'string', help: '' },
  ];
  it('suggests the nearest known flag when it is a likely typo, and only then', () => {
    expect(() => parseArgs(['--confg', 'x'], specs)).toThrow(new UsageError('unknown flag --confg (did you mean "--config"?)'));
    expect(() => parseArgs(['--lsiten', 'x'], specs)).toThrow(new UsageError('unknown flag --lsiten (did you mean "--listen"?)'));
    expect(() => parseArgs(['--bogus'], specs)).toThrow(new UsageError('unknown flag --bogus'));
  });
});
