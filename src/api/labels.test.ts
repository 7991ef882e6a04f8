import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  parse, matches, toString, selectorFromSet, formatLabels, newRequirement, labelSelectorAsRequirements,
  formatLabelSelector, labelSelectorMatches, requiresExactMatch, LabelSelectorError, type Requirement,
} from './labels.js';

const keyRegexMsg = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const valueRegexMsg = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

test('parse: every operator, canonical string sorted by key', () => {
  const cases: [string, string][] = [
    ['', ''],
    ['   ', ''],
    ['a=b', 'a=b'],
    ['a==b', 'a==b'],
    ['a!=b', 'a!=b'],
    ['a', 'a'],
    ['!a', '!a'],
    ['a in (y,x)', 'a in (x,y)'],
    ['a notin (x)', 'a notin (x)'],
    ['a>3', 'a>3'],
    ['a<5', 'a<5'],
    ['z=1,a=2,m', 'a=2,m,z=1'],
    // Whitespace anywhere between tokens.
    ['  env = prod ,  tier  in ( web , api ) , ! legacy ', 'env=prod,!legacy,tier in (api,web)'],
    // Empty values: "a=", "()" and ",," stand for the empty string; sets dedupe.
    ['a=', 'a='],
    ['x in (foo,,baz),y,z notin ()', 'x in (,baz,foo),y,z notin ()'],
    ['a in (b,b,a)', 'a in (a,b)'],
    // "in" and "notin" are plain words where a value is expected.
    ['a in (in,notin)', 'a in (in,notin)'],
    ['example.com/app=web', 'example.com/app=web'],
  ];
  for (const [input, want] of cases) assert.equal(toString(parse(input)), want, input);
});

test('parse: requirement structure', () => {
  assert.deepEqual(parse('b notin (x),!c,a=1'), [
    { key: 'a', operator: '=', values: ['1'] },
    { key: 'b', operator: 'notin', values: ['x'] },
    { key: 'c', operator: '!', values: [] },
  ]);
  assert.deepEqual(parse('k in ()'), [{ key: 'k', operator: 'in', values: [''] }]);
});

test('parse: errors carry apimachinery text', () => {
  const cases: [string, string][] = [
    ['a b', "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"],
    ['a=b c', "found 'c', expected: ',' or 'end of string'"],
    ['a,', "found '', expected: identifier after ','"],
    [',a', "found ',', expected: !, identifier, or 'end of string'"],
    ['=a', "found '=', expected: !, identifier, or 'end of string'"],
    ['a=b=c', "found '=', expected: ',' or 'end of string'"],
    ['a in b', "unable to parse requirement: found 'b' expected: '('"],
    ['a in (b c)', "unable to parse requirement: found 'c', expected: ',' or ')'"],
    ['x in (a', "unable to parse requirement: found '', expected: ',' or ')'"],
    ['a in (=)', "unable to parse requirement: found '=', expected: ',', ')' or identifier"],
    ['!', "unable to parse requirement: found '', expected: identifier"],
    ['a!', "unable to parse requirement: found '!', expected: in, notin, =, ==, !=, gt, lt"],
    // Keys are checked by the parser against a nil field path, printed "<nil>".
    ['app: nginx', `unable to parse requirement: <nil>: Invalid value: "app:": ${keyRegexMsg}`],
    ['a/b/c=d', `unable to parse requirement: <nil>: Invalid value: "a/b/c": a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`],
    ['app.kubernetes_io/name=x', "unable to parse requirement: <nil>: Invalid value: \"app.kubernetes_io/name\": prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"],
    ['/a', 'unable to parse requirement: <nil>: Invalid value: "/a": prefix part must be non-empty'],
    [`${'k'.repeat(64)}`, `unable to parse requirement: <nil>: Invalid value: "${'k'.repeat(64)}": name part must be no more than 63 characters`],
    // Values are checked by NewRequirement, at values[i][key].
    ['a=-x', `unable to parse requirement: values[0][a]: Invalid value: "-x": ${valueRegexMsg}`],
    ['a in (ok,-bad)', `unable to parse requirement: values[0][a]: Invalid value: "-bad": ${valueRegexMsg}`],
    // gt/lt values are label values too, so negative numbers are refused.
    ['a<-3', `unable to parse requirement: values[0][a]: Invalid value: "-3": ${valueRegexMsg}`],
    ['a>x', "unable to parse requirement: values[0]: Invalid value: \"x\": for 'Gt', 'Lt' operators, the value must be an integer"],
  ];
  for (const [input, want] of cases) {
    assert.throws(() => parse(input), (e: unknown) => e instanceof LabelSelectorError && e.message === want, input);
  }
  // Several failures aggregate in brackets.
  assert.throws(() => parse(`a=${'v'.repeat(64)}-`), {
    message: `unable to parse requirement: values[0][a]: Invalid value: "${'v'.repeat(64)}-": must be no more than 63 characters; ${valueRegexMsg}`,
  });
});

test('matches: =, !=, in, notin, exists, !, gt, lt', () => {
  const labels = { app: 'web', tier: 'frontend', replicas: '3' };
  const cases: [string, boolean][] = [
    ['', true],
    ['app=web', true],
    ['app==api', false],
    ['app!=api', true],
    // A missing key satisfies != and notin.
    ['env!=prod', true],
    ['env notin (prod)', true],
    ['env in (prod)', false],
    ['app in (api,web)', true],
    ['app notin (api,web)', false],
    ['tier', true],
    ['env', false],
    ['!env', true],
    ['!app', false],
    ['replicas>2', true],
    ['replicas>3', false],
    ['replicas<4', true],
    ['app>1', false],
    ['app=web,tier=frontend', true],
    ['app=web,tier=backend', false],
  ];
  for (const [sel, want] of cases) assert.equal(matches(parse(sel), labels), want, sel);
  assert.equal(matches(parse('!a'), undefined), true);
  assert.equal(matches(parse('a'), undefined), false);
  // Keys that collide with Object.prototype are ordinary keys.
  assert.equal(matches(parse('constructor'), {}), false);
  assert.equal(matches(parse('!toString'), {}), true);
});

test('selectorFromSet, formatLabels, requiresExactMatch', () => {
  assert.deepEqual(selectorFromSet({ tier: 'frontend', app: 'web' }), [
    { key: 'app', operator: '=', values: ['web'] },
    { key: 'tier', operator: '=', values: ['frontend'] },
  ]);
  assert.equal(toString(selectorFromSet({ tier: 'frontend', app: 'web' })), 'app=web,tier=frontend');
  assert.deepEqual(selectorFromSet(undefined), []);
  assert.equal(formatLabels({ b: '2', a: '1' }), 'a=1,b=2');
  assert.equal(formatLabels({}), '<none>');
  assert.equal(formatLabels(undefined), '<none>');
  assert.equal(requiresExactMatch(parse('a=1,b in (2),c in (3,4),d!=5'), 'a'), '1');
  assert.equal(requiresExactMatch(parse('a=1,b in (2),c in (3,4),d!=5'), 'b'), '2');
  assert.equal(requiresExactMatch(parse('a=1,b in (2),c in (3,4),d!=5'), 'c'), undefined);
  assert.equal(requiresExactMatch(parse('a=1,b in (2),c in (3,4),d!=5'), 'd'), undefined);
  assert.equal(requiresExactMatch(parse('a=1'), 'z'), undefined);
});

test('newRequirement: arity and value validation, aggregated', () => {
  assert.deepEqual(newRequirement('a', 'in', ['x']), { key: 'a', operator: 'in', values: ['x'] });
  assert.throws(() => newRequirement('a', '=', ['x', 'y']),
    { message: 'values: Invalid value: []string{"x", "y"}: exact-match compatibility requires one single value' });
  assert.throws(() => newRequirement('a', 'exists', ['x']),
    { message: 'values: Invalid value: []string{"x"}: values set must be empty for exists and does not exist' });
  assert.throws(() => newRequirement('-a', 'notin', [], 'spec.selector.matchExpressions[0]'), {
    message: `[spec.selector.matchExpressions[0].key: Invalid value: "-a": ${keyRegexMsg}, spec.selector.matchExpressions[0].values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be empty]`,
  });
  assert.throws(() => newRequirement('a', 'gt', ['1', '2']), {
    message: "values: Invalid value: []string{\"1\", \"2\"}: for 'Gt', 'Lt' operators, exactly one value is required",
  });
});

test('labelSelectorAsRequirements: nil selects nothing, {} everything, sorted, k8s errors', () => {
  assert.equal(labelSelectorAsRequirements(undefined), null);
  assert.equal(labelSelectorAsRequirements(null), null);
  assert.deepEqual(labelSelectorAsRequirements({}), []);
  assert.deepEqual(labelSelectorAsRequirements({ matchLabels: {}, matchExpressions: [] }), []);
  const reqs = labelSelectorAsRequirements({
    matchLabels: { tier: 'web', app: 'shop' },
    matchExpressions: [
      { key: 'env', operator: 'NotIn', values: ['dev'] },
      { key: 'canary', operator: 'DoesNotExist' },
      { key: 'zone', operator: 'Exists' },
      { key: 'release', operator: 'In', values: ['stable', 'beta'] },
    ],
  }) as Requirement[];
  assert.equal(toString(reqs), 'app=shop,!canary,env notin (dev),release in (beta,stable),tier=web,zone');
  assert.throws(() => labelSelectorAsRequirements({ matchExpressions: [{ key: 'a', operator: 'Equals', values: ['b'] }] }),
    { message: '"Equals" is not a valid label selector operator' });
  assert.throws(() => labelSelectorAsRequirements({ matchExpressions: [{ key: 'a', operator: 'In' }] }),
    { message: "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be empty" });
  assert.throws(() => labelSelectorAsRequirements({ matchLabels: { a: 'b c' } }),
    { message: `values[0][a]: Invalid value: "b c": ${valueRegexMsg}` });
});

test('formatLabelSelector and labelSelectorMatches', () => {
  assert.equal(formatLabelSelector(undefined), '<none>');
  assert.equal(formatLabelSelector({}), '<none>');
  assert.equal(formatLabelSelector({ matchLabels: { b: '2', a: '1' } }), 'a=1,b=2');
  assert.equal(formatLabelSelector({ matchExpressions: [{ key: 'a', operator: 'Bogus' }] }), '<error>');
  assert.equal(labelSelectorMatches({ matchLabels: { app: 'web' } }, { app: 'web', x: 'y' }), true);
  assert.equal(labelSelectorMatches({ matchLabels: { app: 'web' } }, { app: 'api' }), false);
  assert.equal(labelSelectorMatches({}, { anything: 'goes' }), true);
  assert.equal(labelSelectorMatches(undefined, { anything: 'goes' }), false);
});

test('round trip: toString output parses back to the same requirements', () => {
  for (const s of ['a=b,c!=d,e in (f,g),h notin (i),j,!k', 'x>10,y<2', 'example.com/role=db']) {
    const once = parse(s);
    assert.deepEqual(parse(toString(once)), once, s);
  }
});
