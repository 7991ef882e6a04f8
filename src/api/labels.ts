// Label selectors, as k8s.io/apimachinery/pkg/labels implements them: the
// string syntax of `?labelSelector=` and `kubectl -l`, matching, the canonical
// rendering, and the conversion of a metav1.LabelSelector (Deployment,
// ReplicaSet, …) into requirements.
//
// Errors are thrown as LabelSelectorError whose message is the text
// kube-apiserver puts in its 400 BadRequest, e.g.
//   unable to parse requirement: <nil>: Invalid value: "a b": name part must consist of …
// The "<nil>" is real: the parser validates keys against a nil field path and
// Go prints a nil *field.Path that way; kubectl users see exactly this.
//
// Texts follow apimachinery as shipped with Kubernetes 1.32 (the version our
// /version reports), e.g. "must be no more than 63 characters".
import type { LabelSelector } from 'kubernetes-types/meta/v1.js';

/** selection.Operator values, spelled as apimachinery spells them. */
export type Operator = 'in' | 'notin' | '=' | '==' | '!=' | 'exists' | '!' | 'gt' | 'lt';

export interface Requirement {
  readonly key: string;
  readonly operator: Operator;
  /** Empty for exists / !; exactly one for =, ==, !=, gt, lt; at least one for in / notin. */
  readonly values: readonly string[];
}

export type Labels = Readonly<Record<string, string>>;

/** A selector that failed to parse or validate; `message` is kube-apiserver's text. */
export class LabelSelectorError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LabelSelectorError';
  }
}

// ---------------------------------------------------------------------------
// Validation texts (apimachinery/pkg/util/validation, v1.32). Private copies:
// this module must not depend on the validation package's shape.

const qualifiedNameFmt = '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]';
const qualifiedNameErrMsg = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const qualifiedNameRe = new RegExp(`^${qualifiedNameFmt}$`);
const labelValueFmt = `(${qualifiedNameFmt})?`;
const labelValueErrMsg = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const labelValueRe = new RegExp(`^${labelValueFmt}$`);
const dns1123LabelFmt = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const dns1123SubdomainFmt = `${dns1123LabelFmt}(\\.${dns1123LabelFmt})*`;
const dns1123SubdomainErrMsg = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const dns1123SubdomainRe = new RegExp(`^${dns1123SubdomainFmt}$`);

/** validation.RegexError: note the two spaces before each "or", as Go prints them. */
function regexError(msg: string, fmt: string, ...examples: string[]): string {
  if (examples.length === 0) return `${msg} (regex used for validation is '${fmt}')`;
  let s = `${msg} (e.g. `;
  examples.forEach((e, i) => { s += (i > 0 ? ' or ' : '') + `'${e}', `; });
  return `${s}regex used for validation is '${fmt}')`;
}
const maxLenError = (n: number): string => `must be no more than ${n} characters`;
const emptyError = 'must be non-empty';

/** Go measures lengths in bytes. */
function byteLength(s: string): number {
  return new TextEncoder().encode(s).length;
}

function dns1123SubdomainErrors(value: string): string[] {
  const errs: string[] = [];
  if (byteLength(value) > 253) errs.push(maxLenError(253));
  if (!dns1123SubdomainRe.test(value)) errs.push(regexError(dns1123SubdomainErrMsg, dns1123SubdomainFmt, 'example.com'));
  return errs;
}

/** validation.IsQualifiedName: the rules for a label key. */
export function labelKeyErrors(value: string): string[] {
  const errs: string[] = [];
  const parts = value.split('/');
  let name: string;
  if (parts.length === 1) {
    name = parts[0]!;
  } else if (parts.length === 2) {
    const prefix = parts[0]!;
    name = parts[1]!;
    if (prefix.length === 0) errs.push(`prefix part ${emptyError}`);
    else errs.push(...dns1123SubdomainErrors(prefix).map((m) => `prefix part ${m}`));
  } else {
    return [`a qualified name ${regexError(qualifiedNameErrMsg, qualifiedNameFmt, 'MyName', 'my.name', '123-abc')} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`];
  }
  if (name.length === 0) errs.push(`name part ${emptyError}`);
  else if (byteLength(name) > 63) errs.push(`name part ${maxLenError(63)}`);
  if (!qualifiedNameRe.test(name)) errs.push(`name part ${regexError(qualifiedNameErrMsg, qualifiedNameFmt, 'MyName', 'my.name', '123-abc')}`);
  return errs;
}

/** validation.IsValidLabelValue. */
export function labelValueErrors(value: string): string[] {
  const errs: string[] = [];
  if (byteLength(value) > 63) errs.push(maxLenError(63));
  if (!labelValueRe.test(value)) errs.push(regexError(labelValueErrMsg, labelValueFmt, 'MyValue', 'my_value', '12345'));
  return errs;
}

/** field.Invalid(path, value, detail).Error() for a string value. */
function invalid(path: string, value: string, detail: string): string {
  return `${path}: Invalid value: ${JSON.stringify(value)}: ${detail}`;
}

/** utilerrors.Aggregate.Error(): one message bare, several deduplicated in brackets. */
function aggregate(msgs: string[]): string {
  const seen = [...new Set(msgs)];
  return seen.length === 1 ? seen[0]! : `[${seen.join(', ')}]`;
}

const validOperators: readonly Operator[] = ['in', 'notin', '=', '==', '!=', 'gt', 'lt', 'exists', '!'];

/** Go's strconv.ParseInt(s, 10, 64) succeeds. */
function isInt64(s: string): boolean {
  if (!/^[+-]?[0-9]+$/.test(s)) return false;
  const n = BigInt(s);
  return n >= -(2n ** 63n) && n < 2n ** 63n;
}

/**
 * labels.NewRequirement: validates key, operator arity and values, throwing the
 * aggregated field errors. `path` prefixes the field paths ("key", "values[0]")
 * the way a field.Path option does; without it they start at "key"/"values".
 */
export function newRequirement(key: string, operator: Operator, values: readonly string[], path?: string): Requirement {
  const child = (name: string): string => (path ? `${path}.${name}` : name);
  const errs: string[] = [];
  const keyErrs = labelKeyErrors(key);
  if (keyErrs.length) errs.push(invalid(child('key'), key, keyErrs.join('; ')));
  const valuesPath = child('values');
  // A values list is rendered with %#v in Go ([]string{"a", "b"}). An empty
  // list reaches this check only from LabelSelectorAsSelector, which passes a
  // nil slice: Go prints that as []string(nil).
  const goList = values.length === 0 ? '[]string(nil)' : `[]string{${values.map((v) => JSON.stringify(v)).join(', ')}}`;
  const invalidValues = (detail: string): string => `${valuesPath}: Invalid value: ${goList}: ${detail}`;
  switch (operator) {
    case 'in': case 'notin':
      if (values.length === 0) errs.push(invalidValues("for 'in', 'notin' operators, values set can't be empty"));
      break;
    case '=': case '==': case '!=':
      if (values.length !== 1) errs.push(invalidValues('exact-match compatibility requires one single value'));
      break;
    case 'exists': case '!':
      if (values.length !== 0) errs.push(invalidValues('values set must be empty for exists and does not exist'));
      break;
    case 'gt': case 'lt':
      if (values.length !== 1) errs.push(invalidValues("for 'Gt', 'Lt' operators, exactly one value is required"));
      values.forEach((v, i) => {
        if (!isInt64(v)) errs.push(invalid(`${valuesPath}[${i}]`, v, "for 'Gt', 'Lt' operators, the value must be an integer"));
      });
      break;
    default: {
      const op: string = operator;
      errs.push(`${child('operator')}: Unsupported value: ${JSON.stringify(op)}: supported values: ${validOperators.map((o) => JSON.stringify(o)).join(', ')}`);
    }
  }
  values.forEach((v, i) => {
    const ve = labelValueErrors(v);
    if (ve.length) errs.push(invalid(`${valuesPath}[${i}][${key}]`, v, ve.join('; ')));
  });
  if (errs.length) throw new LabelSelectorError(aggregate(errs));
  return { key, operator, values: [...values] };
}

// ---------------------------------------------------------------------------
// Matching

function hasValue(r: Requirement, v: string): boolean {
  return r.values.includes(v);
}

/** Requirement.Matches. */
export function requirementMatches(r: Requirement, labels: Labels | undefined): boolean {
  const has = labels !== undefined && Object.prototype.hasOwnProperty.call(labels, r.key);
  const val = has ? labels![r.key]! : undefined;
  switch (r.operator) {
    case 'in': case '=': case '==':
      return has && hasValue(r, val!);
    case 'notin': case '!=':
      // A missing key satisfies "not equal" and "not in": that is how
      // `-l env!=prod` selects objects without an env label at all.
      return !has || !hasValue(r, val!);
    case 'exists':
      return has;
    case '!':
      return !has;
    case 'gt': case 'lt': {
      if (!has || !isInt64(val!) || r.values.length !== 1 || !isInt64(r.values[0]!)) return false;
      const lv = BigInt(val!);
      const rv = BigInt(r.values[0]!);
      return r.operator === 'gt' ? lv > rv : lv < rv;
    }
    default:
      return false;
  }
}

/** All requirements hold (an empty list selects everything). */
export function matches(requirements: readonly Requirement[], labels: Labels | undefined): boolean {
  return requirements.every((r) => requirementMatches(r, labels));
}

/**
 * Selector.RequiresExactMatch: the single value `key` must have, if the selector
 * pins it (=, == or a one-value in); lets a server narrow a list by index.
 */
export function requiresExactMatch(requirements: readonly Requirement[], key: string): string | undefined {
  for (const r of requirements) {
    if (r.key !== key) continue;
    if ((r.operator === '=' || r.operator === '==' || r.operator === 'in') && r.values.length === 1) return r.values[0];
    return undefined;
  }
  return undefined;
}

// ---------------------------------------------------------------------------
// Rendering

function compareStrings(a: string, b: string): number {
  // Go compares strings bytewise; for the ASCII that label syntax allows,
  // code-unit order is the same.
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Requirement.String(): "k=v", "k!=v", "k in (a,b)", "!k", "k>3". Values sorted. */
export function requirementToString(r: Requirement): string {
  const key = r.operator === '!' ? `!${r.key}` : r.key;
  if (r.operator === 'exists' || r.operator === '!') return key;
  const values = r.values.length === 1 ? r.values[0]! : [...r.values].sort(compareStrings).join(',');
  switch (r.operator) {
    case '=': return `${key}=${values}`;
    case '==': return `${key}==${values}`;
    case '!=': return `${key}!=${values}`;
    case 'in': return `${key} in (${values})`;
    case 'notin': return `${key} notin (${values})`;
    case 'gt': return `${key}>${values}`;
    case 'lt': return `${key}<${values}`;
    default: return key;
  }
}

/** Selector.String(): requirements joined by ",". */
export function toString(requirements: readonly Requirement[]): string {
  return requirements.map(requirementToString).join(',');
}

/** Sorted by key, as the parser and Selector.Add leave them (stable for equal keys). */
function sortByKey(reqs: Requirement[]): Requirement[] {
  return reqs.sort((a, b) => compareStrings(a.key, b.key));
}

/** labels.SelectorFromSet: one "=" requirement per entry, sorted by key, unvalidated. */
export function selectorFromSet(set: Labels | undefined | null): Requirement[] {
  if (!set) return [];
  return sortByKey(Object.keys(set).map((k) => ({ key: k, operator: '=' as const, values: [set[k]!] })));
}

/** labels.FormatLabels: "a=b,c=d" sorted by key, or `<none>`. */
export function formatLabels(set: Labels | undefined | null): string {
  const s = toString(selectorFromSet(set));
  return s === '' ? '<none>' : s;
}

// ---------------------------------------------------------------------------
// metav1.LabelSelector

const selectorOps: Readonly<Record<string, Operator>> = {
  In: 'in', NotIn: 'notin', Exists: 'exists', DoesNotExist: '!',
};

/**
 * metav1.LabelSelectorAsSelector. A missing selector selects nothing (null);
 * an empty one ({}) selects everything ([]). matchLabels become "=" and
 * matchExpressions keep their operator; the result is sorted by key.
 * Throws LabelSelectorError with apimachinery's text on an unknown operator or
 * an invalid key/value.
 */
export function labelSelectorAsRequirements(selector: LabelSelector | undefined | null): Requirement[] | null {
  if (!selector) return null;
  const matchLabels = selector.matchLabels ?? {};
  const exprs = selector.matchExpressions ?? [];
  if (Object.keys(matchLabels).length + exprs.length === 0) return [];
  const reqs: Requirement[] = [];
  // Go ranges over the map in random order; sorted keys make the first
  // reported error deterministic.
  for (const k of Object.keys(matchLabels).sort(compareStrings)) {
    reqs.push(newRequirement(k, '=', [matchLabels[k]!]));
  }
  for (const e of exprs) {
    const op = Object.prototype.hasOwnProperty.call(selectorOps, e.operator) ? selectorOps[e.operator] : undefined;
    if (!op) throw new LabelSelectorError(`${JSON.stringify(e.operator)} is not a valid label selector operator`);
    reqs.push(newRequirement(e.key, op, [...(e.values ?? [])]));
  }
  return sortByKey(reqs);
}

/**
 * metav1.FormatLabelSelector, the SELECTOR column: the canonical string,
 * `<none>` when it selects nothing or everything, `<error>` when invalid.
 */
export function formatLabelSelector(selector: LabelSelector | undefined | null): string {
  let reqs: Requirement[] | null;
  try {
    reqs = labelSelectorAsRequirements(selector);
  } catch {
    return '<error>';
  }
  const s = reqs === null ? '' : toString(reqs);
  return s === '' ? '<none>' : s;
}

/** Whether labels satisfy a metav1.LabelSelector (nil selects nothing, {} everything). */
export function labelSelectorMatches(selector: LabelSelector | undefined | null, labels: Labels | undefined): boolean {
  const reqs = labelSelectorAsRequirements(selector);
  return reqs !== null && matches(reqs, labels);
}

// ---------------------------------------------------------------------------
// The string syntax: lexer

const enum Tok {
  Error, EndOfString, ClosedPar, Comma, DoesNotExist, DoubleEquals, Equals, GreaterThan,
  Identifier, In, LessThan, NotEquals, NotIn, OpenPar,
}

const literalTokens: ReadonlyMap<string, Tok> = new Map([
  [')', Tok.ClosedPar], [',', Tok.Comma], ['!', Tok.DoesNotExist], ['==', Tok.DoubleEquals],
  ['=', Tok.Equals], ['>', Tok.GreaterThan], ['in', Tok.In], ['<', Tok.LessThan],
  ['!=', Tok.NotEquals], ['notin', Tok.NotIn], ['(', Tok.OpenPar],
]);

interface Item { tok: Tok; lit: string }

const isWhitespace = (c: string): boolean => c === ' ' || c === '\t' || c === '\r' || c === '\n';
const isSpecial = (c: string): boolean => '=!(),><'.includes(c) && c !== '';

/**
 * Splits the selector into tokens. Go's lexer treats a NUL byte as the end of
 * input; so does this one.
 */
function lex(s: string): Item[] {
  const items: Item[] = [];
  let pos = 0;
  const peek = (): string => (pos < s.length && s[pos] !== '\0' ? s[pos]! : '');
  for (;;) {
    while (peek() !== '' && isWhitespace(peek())) pos++;
    const c = peek();
    if (c === '') { items.push({ tok: Tok.EndOfString, lit: '' }); return items; }
    if (isSpecial(c)) {
      // Longest run of special characters that is still a known operator.
      let buf = '';
      let last: Item | undefined;
      while (peek() !== '' && isSpecial(peek())) {
        buf += peek();
        const t = literalTokens.get(buf);
        if (t !== undefined) { last = { tok: t, lit: buf }; pos++; }
        else if (last) break;
        else pos++;
      }
      items.push(last ?? { tok: Tok.Error, lit: `error expected: keyword found '${buf}'` });
    } else {
      let buf = '';
      while (peek() !== '' && !isSpecial(peek()) && !isWhitespace(peek())) buf += s[pos++];
      const t = literalTokens.get(buf);
      items.push({ tok: t ?? Tok.Identifier, lit: buf });
    }
  }
}

// ---------------------------------------------------------------------------
// The string syntax: parser

const binaryOperators = 'in, notin, =, ==, !=, gt, lt';

class Parser {
  private pos = 0;
  constructor(private readonly items: Item[]) {}

  /** In a value position "in" and "notin" are plain identifiers: `x in (in)`. */
  private asValue(it: Item): Item {
    return it.tok === Tok.In || it.tok === Tok.NotIn ? { tok: Tok.Identifier, lit: it.lit } : it;
  }
  private lookahead(values: boolean): Item {
    const it = this.items[this.pos]!;
    return values ? this.asValue(it) : it;
  }
  private consume(values: boolean): Item {
    const it = this.items[this.pos++]!;
    return values ? this.asValue(it) : it;
  }

  parse(): Requirement[] {
    const reqs: Requirement[] = [];
    for (;;) {
      const { tok, lit } = this.lookahead(true);
      if (tok === Tok.EndOfString) return reqs;
      if (tok !== Tok.Identifier && tok !== Tok.DoesNotExist) {
        throw new LabelSelectorError(`found '${lit}', expected: !, identifier, or 'end of string'`);
      }
      try {
        reqs.push(this.parseRequirement());
      } catch (e) {
        throw new LabelSelectorError(`unable to parse requirement: ${(e as Error).message}`);
      }
      const next = this.consume(true);
      if (next.tok === Tok.EndOfString) return reqs;
      if (next.tok !== Tok.Comma) throw new LabelSelectorError(`found '${next.lit}', expected: ',' or 'end of string'`);
      const after = this.lookahead(true);
      if (after.tok !== Tok.Identifier && after.tok !== Tok.DoesNotExist) {
        throw new LabelSelectorError(`found '${after.lit}', expected: identifier after ','`);
      }
    }
  }

  private parseRequirement(): Requirement {
    const { key, operator: inferred } = this.parseKeyAndInferOperator();
    if (inferred) return newRequirement(key, inferred, []);
    const operator = this.parseOperator();
    const values = operator === 'in' || operator === 'notin' ? this.parseValues() : this.parseExactValue();
    // Go collects values in a sets.String: deduplicated and sorted.
    return newRequirement(key, operator, [...new Set(values)].sort(compareStrings));
  }

  private parseKeyAndInferOperator(): { key: string; operator?: Operator } {
    let operator: Operator | undefined;
    let it = this.consume(true);
    if (it.tok === Tok.DoesNotExist) {
      operator = '!';
      it = this.consume(true);
    }
    if (it.tok !== Tok.Identifier) throw new Error(`found '${it.lit}', expected: identifier`);
    const errs = labelKeyErrors(it.lit);
    // The parser's own key check runs with a nil field path, hence "<nil>".
    if (errs.length) throw new Error(invalid('<nil>', it.lit, errs.join('; ')));
    const t = this.lookahead(true).tok;
    if ((t === Tok.EndOfString || t === Tok.Comma) && operator !== '!') operator = 'exists';
    return operator ? { key: it.lit, operator } : { key: it.lit };
  }

  private parseOperator(): Operator {
    const { tok, lit } = this.consume(false);
    switch (tok) {
      case Tok.In: return 'in';
      case Tok.Equals: return '=';
      case Tok.DoubleEquals: return '==';
      case Tok.GreaterThan: return 'gt';
      case Tok.LessThan: return 'lt';
      case Tok.NotIn: return 'notin';
      case Tok.NotEquals: return '!=';
      default: throw new Error(`found '${lit}', expected: ${binaryOperators}`);
    }
  }

  private parseValues(): string[] {
    const open = this.consume(true);
    if (open.tok !== Tok.OpenPar) throw new Error(`found '${open.lit}' expected: '('`);
    const { tok, lit } = this.lookahead(true);
    if (tok === Tok.Identifier || tok === Tok.Comma) {
      const values = this.parseIdentifiersList();
      // Go reports the literal seen before the list here, not the offending one.
      if (this.consume(true).tok !== Tok.ClosedPar) throw new Error(`found '${lit}', expected: ')'`);
      return values;
    }
    if (tok === Tok.ClosedPar) {
      // "()" is the set holding the empty string.
      this.consume(true);
      return [''];
    }
    throw new Error(`found '${lit}', expected: ',', ')' or identifier`);
  }

  /** A comma-separated list of possibly empty identifiers: "(a,,b)", "(,a)", "(a,)". */
  private parseIdentifiersList(): string[] {
    const values: string[] = [];
    for (;;) {
      const { tok, lit } = this.consume(true);
      if (tok === Tok.Identifier) {
        values.push(lit);
        const next = this.lookahead(true);
        if (next.tok === Tok.Comma) continue;
        if (next.tok === Tok.ClosedPar) return values;
        throw new Error(`found '${next.lit}', expected: ',' or ')'`);
      }
      if (tok === Tok.Comma) {
        if (values.length === 0) values.push('');
        const next = this.lookahead(true).tok;
        if (next === Tok.ClosedPar) { values.push(''); return values; }
        if (next === Tok.Comma) values.push('');
        continue;
      }
      throw new Error(`found '${lit}', expected: ',', or identifier`);
    }
  }

  private parseExactValue(): string[] {
    const t = this.lookahead(true).tok;
    if (t === Tok.EndOfString || t === Tok.Comma) return [''];
    const { tok, lit } = this.consume(true);
    if (tok === Tok.Identifier) return [lit];
    throw new Error(`found '${lit}', expected: identifier`);
  }
}

/**
 * labels.Parse: `a=b,c!=d,e in (f,g),h notin (i),j,!k`, whitespace tolerant,
 * with `gt`/`lt` (`a>3`, `a<5`). Returns requirements sorted by key; the empty
 * string gives [] (everything). Throws LabelSelectorError with
 * apimachinery's message.
 */
export function parse(selector: string): Requirement[] {
  return sortByKey(new Parser(lex(selector)).parse());
}
