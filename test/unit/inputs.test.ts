import { describe, expect, it } from 'vitest';
import { ConfigurationError } from '../../src/common/errors.js';
import { configError } from '../support/config-error.js';
import { fakeInputs as inputs } from '../support/inputs-fake.js';

describe('Inputs', () => {
  it('reads required and optional values, trimming whitespace', () => {
    const i = inputs({ name: '  web  ', empty: '   ' });
    expect(i.required('name')).toBe('web');
    expect(i.optional('empty')).toBeUndefined();
    const e = configError(() => i.required('missing', 'a cluster name'));
    expect(e.message).toBe("Input 'missing' is required: expected a cluster name.");
    expect(e.input).toBe('missing');
  });

  it('parses booleans the way YAML 1.2 core does and rejects anything else, quoting it', () => {
    const i = inputs({ a: 'true', b: 'False', c: 'yes' });
    expect(i.boolean('a', false)).toBe(true);
    expect(i.boolean('b', true)).toBe(false);
    expect(i.boolean('unset', true)).toBe(true);
    expect(configError(() => i.boolean('c', false)).message).toBe(
      'Input \'c\' has the value "yes": expected `true` or `false`.',
    );
  });

  it('parses durations into milliseconds', () => {
    const i = inputs({ t: '1h30m', bad: 'ten minutes' });
    expect(i.duration('t', '5m')).toBe(5_400_000);
    expect(i.duration('unset', '90s')).toBe(90_000);
    expect(configError(() => i.duration('bad', '1m')).message).toMatch(
      /Input 'bad' has the value "ten minutes": expected a duration such as 90s/,
    );
  });

  it('checks integers against their range', () => {
    const i = inputs({ n: '8', big: '1000', frac: '1.5' });
    expect(i.integer('n', 1, { min: 1, max: 64 })).toBe(8);
    expect(i.integer('unset', 4)).toBe(4);
    expect(configError(() => i.integer('big', 1, { min: 1, max: 64 })).expected).toBe('a whole number from 1 to 64');
    expect(() => i.integer('frac', 1)).toThrow(ConfigurationError);
  });

  it('accepts only listed choices and names them', () => {
    const i = inputs({ p: 'v3' });
    expect(configError(() => i.choice('p', ['v1', 'v2'] as const, 'v2')).message).toBe(
      'Input \'p\' has the value "v3": expected one of `v1`, `v2`.',
    );
    expect(i.choice('unset', ['v1', 'v2'] as const, 'v2')).toBe('v2');
  });

  it('splits lists on newlines and commas, skipping blanks and comments', () => {
    const i = inputs({ l: 'a, b\n\n# note\nc\n' });
    expect(i.list('l')).toEqual(['a', 'b', 'c']);
    expect(i.list('unset')).toEqual([]);
  });

  it('parses YAML or JSON documents and reports the parser message with the input name', () => {
    const i = inputs({ y: '- email: a@x.io\n  profile: a', j: '{"k": [1, 2]}', bad: 'a: [1, 2' });
    expect(i.structured('y')).toEqual([{ email: 'a@x.io', profile: 'a' }]);
    expect(i.structured('j')).toEqual({ k: [1, 2] });
    const e = configError(() => i.structured('bad', 'a YAML list of users'));
    expect(e.message).toMatch(
      /^Input 'bad' has the value "a: \[1, 2": expected a YAML list of users \(the parser said: /,
    );
  });

  it('masks secrets before returning them and never quotes them in errors', () => {
    const masked: string[] = [];
    const i = inputs({ token: 's3cr3t' }, masked);
    expect(i.secret('token')).toBe('s3cr3t');
    expect(masked).toEqual(['s3cr3t']);
    const e = configError(() => i.secret('other', true));
    expect(e.message).toBe("Input 'other' is required: expected a non-empty secret.");
  });

  it('validates values against a pattern', () => {
    const i = inputs({ ns: 'Bad_Name' });
    expect(configError(() => i.matching('ns', /^[a-z0-9-]+$/, 'a DNS label')).message).toBe(
      'Input \'ns\' has the value "Bad_Name": expected a DNS label.',
    );
    expect(i.matching('unset', /^[a-z]+$/, 'x', 'kubeflow')).toBe('kubeflow');
  });
});
