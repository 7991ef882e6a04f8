// String-format checks with the exact messages of apimachinery's
// k8s.io/apimachinery/pkg/util/validation (validation.go, ip.go) and
// pkg/api/validate/content (label keys and values). Each returns the list of
// messages Kubernetes returns: empty when the value is valid. Callers wrap
// them into FieldErrors (field.Invalid(path, value, msg)), as Kubernetes does.
import { parseCIDRSloppy, parseIPSloppy } from './ip.js';

/** "must be no more than N characters" */
export function MaxLenError(length: number): string {
  return `must be no more than ${length} characters`;
}

/** The regex explanation apimachinery builds: `msg (e.g. 'a' or 'b', regex used for validation is 're')`. */
export function RegexError(msg: string, fmt: string, ...examples: string[]): string {
  if (examples.length === 0) return `${msg} (regex used for validation is '${fmt}')`;
  let s = msg + ' (e.g. ';
  examples.forEach((e, i) => {
    if (i > 0) s += ' or ';
    s += `'${e}', `;
  });
  return s + `regex used for validation is '${fmt}')`;
}

export function EmptyError(): string { return 'must be non-empty'; }

export function InclusiveRangeError(lo: number, hi: number): string {
  return `must be between ${lo} and ${hi}, inclusive`;
}

// Go's regexp.MatchString with ^...$ anchors; JS regexes below are the same
// expressions, anchored, and never see newlines specially (no `m` flag).
const dns1123LabelFmt = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const dns1123LabelErrMsg = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
export const DNS1123LabelMaxLength = 63;
const dns1123LabelRegexp = new RegExp(`^${dns1123LabelFmt}$`);

const dns1123SubdomainFmt = `${dns1123LabelFmt}(\\.${dns1123LabelFmt})*`;
const dns1123SubdomainErrorMsg = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
export const DNS1123SubdomainMaxLength = 253;
const dns1123SubdomainRegexp = new RegExp(`^${dns1123SubdomainFmt}$`);

const dns1035LabelFmt = '[a-z]([-a-z0-9]*[a-z0-9])?';
const dns1035LabelErrMsg = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character";
export const DNS1035LabelMaxLength = 63;
const dns1035LabelRegexp = new RegExp(`^${dns1035LabelFmt}$`);

/** Go's len() counts bytes, not UTF-16 units. */
function byteLen(s: string): number { return Buffer.byteLength(s, 'utf8'); }

export function IsDNS1123Label(value: string): string[] {
  const errs: string[] = [];
  if (byteLen(value) > DNS1123LabelMaxLength) errs.push(MaxLenError(DNS1123LabelMaxLength));
  if (!dns1123LabelRegexp.test(value)) {
    // A valid subdomain that is not a valid label can only be one with dots
    // (length was already checked): Kubernetes says so rather than print the regex.
    if (dns1123SubdomainRegexp.test(value)) errs.push('must not contain dots');
    else errs.push(RegexError(dns1123LabelErrMsg, dns1123LabelFmt, 'my-name', '123-abc'));
  }
  return errs;
}

export function IsDNS1123Subdomain(value: string): string[] {
  const errs: string[] = [];
  if (byteLen(value) > DNS1123SubdomainMaxLength) errs.push(MaxLenError(DNS1123SubdomainMaxLength));
  if (!dns1123SubdomainRegexp.test(value)) errs.push(RegexError(dns1123SubdomainErrorMsg, dns1123SubdomainFmt, 'example.com'));
  return errs;
}

export function IsDNS1035Label(value: string): string[] {
  const errs: string[] = [];
  if (byteLen(value) > DNS1035LabelMaxLength) errs.push(MaxLenError(DNS1035LabelMaxLength));
  if (!dns1035LabelRegexp.test(value)) errs.push(RegexError(dns1035LabelErrMsg, dns1035LabelFmt, 'my-name', 'abc-123'));
  return errs;
}

/** IsValidPortNum: a non-zero port number. */
export function IsValidPortNum(port: number): string[] {
  if (Number.isInteger(port) && port >= 1 && port <= 65535) return [];
  return [InclusiveRangeError(1, 65535)];
}

export function IsInRange(value: number, min: number, max: number): string[] {
  return value >= min && value <= max ? [] : [InclusiveRangeError(min, max)];
}

const portNameCharsetRegex = /^[-a-z0-9]+$/;
const portNameOneLetterRegexp = /[a-z]/;

/** IANA_SVC_NAME (RFC 6335), lower case only, as Kubernetes checks port names. */
export function IsValidPortName(port: string): string[] {
  const errs: string[] = [];
  if (byteLen(port) > 15) errs.push(MaxLenError(15));
  if (!portNameCharsetRegex.test(port)) errs.push('must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)');
  if (!portNameOneLetterRegexp.test(port)) errs.push('must contain at least one letter (a-z)');
  if (port.includes('--')) errs.push('must not contain consecutive hyphens');
  if (port.length > 0 && (port[0] === '-' || port[port.length - 1] === '-')) errs.push('must not begin or end with a hyphen');
  return errs;
}

const qualifiedNameFmt = '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]';
const qualifiedNameErrMsg = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const qualifiedNameMaxLength = 63;
const qualifiedNameRegexp = new RegExp(`^${qualifiedNameFmt}$`);

/**
 * IsQualifiedName (a label key): an optional DNS-1123 subdomain prefix and
 * '/', then a name of at most 63 characters. Messages of apimachinery's
 * content.IsLabelKey, which IsQualifiedName is an alias of.
 */
export function IsQualifiedName(value: string): string[] {
  const errs: string[] = [];
  const parts = value.split('/');
  let name: string;
  switch (parts.length) {
    case 1:
      name = parts[0];
      break;
    case 2: {
      const prefix = parts[0];
      name = parts[1];
      if (prefix.length === 0) errs.push('prefix part ' + EmptyError());
      else errs.push(...IsDNS1123Subdomain(prefix).map((m) => 'prefix part ' + m));
      break;
    }
    default:
      return [
        'a valid label key ' + RegexError(qualifiedNameErrMsg, qualifiedNameFmt, 'MyName', 'my.name', '123-abc') +
        " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
      ];
  }
  if (name.length === 0) errs.push('name part ' + EmptyError());
  else if (byteLen(name) > qualifiedNameMaxLength) errs.push('name part ' + MaxLenError(qualifiedNameMaxLength));
  if (!qualifiedNameRegexp.test(name)) errs.push('name part ' + RegexError(qualifiedNameErrMsg, qualifiedNameFmt, 'MyName', 'my.name', '123-abc'));
  return errs;
}

const labelValueFmt = `(${qualifiedNameFmt})?`;
const labelValueErrMsg = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
export const LabelValueMaxLength = 63;
const labelValueRegexp = new RegExp(`^${labelValueFmt}$`);

export function IsValidLabelValue(value: string): string[] {
  const errs: string[] = [];
  if (byteLen(value) > LabelValueMaxLength) errs.push(MaxLenError(LabelValueMaxLength));
  if (!labelValueRegexp.test(value)) errs.push(RegexError(labelValueErrMsg, labelValueFmt, 'MyValue', 'my_value', '12345'));
  return errs;
}

const configMapKeyFmt = '[-._a-zA-Z0-9]+';
const configMapKeyErrMsg = "a valid config key must consist of alphanumeric characters, '-', '_' or '.'";
const configMapKeyRegexp = new RegExp(`^${configMapKeyFmt}$`);

function hasChDirPrefix(value: string): string[] {
  if (value === '.') return ["must not be '.'"];
  if (value === '..') return ["must not be '..'"];
  if (value.startsWith('..')) return ["must not start with '..'"];
  return [];
}

export function IsConfigMapKey(value: string): string[] {
  const errs: string[] = [];
  if (byteLen(value) > DNS1123SubdomainMaxLength) errs.push(MaxLenError(DNS1123SubdomainMaxLength));
  if (!configMapKeyRegexp.test(value)) errs.push(RegexError(configMapKeyErrMsg, configMapKeyFmt, 'key.name', 'KEY_NAME', 'key-name'));
  errs.push(...hasChDirPrefix(value));
  return errs;
}

const percentFmt = '[0-9]+%';
const percentErrMsg = "a valid percent string must be a numeric string followed by an ending '%'";
export function IsValidPercent(percent: string): string[] {
  return /^[0-9]+%$/.test(percent) ? [] : [RegexError(percentErrMsg, percentFmt, '1%', '93%')];
}

// IP formats (util/validation/ip.go). Kubernetes parses with the "sloppy"
// pre-Go-1.17 rules: IPv4 octets may carry leading zeros.

export function IsValidIP(value: string): string[] {
  return parseIPSloppy(value) ? [] : ['must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'];
}

export function IsValidIPv4Address(value: string): string[] {
  const ip = parseIPSloppy(value);
  return ip && ip.family === 'IPv4' ? [] : ['must be a valid IPv4 address'];
}

export function IsValidIPv6Address(value: string): string[] {
  const ip = parseIPSloppy(value);
  return ip && ip.family === 'IPv6' ? [] : ['must be a valid IPv6 address'];
}

export function IsValidCIDR(value: string): string[] {
  return parseCIDRSloppy(value) ? [] : ['must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)'];
}

// Name validators (apimachinery api/validation/generic.go): `prefix` is true
// when validating a generateName, whose trailing '-' is masked since random
// characters will follow it.

export type ValidateNameFunc = (name: string, prefix: boolean) => string[];

function maskTrailingDash(name: string): string {
  return name.length > 1 && name.endsWith('-') ? name.slice(0, -1) + 'a' : name;
}

export const NameIsDNSSubdomain: ValidateNameFunc = (name, prefix) => IsDNS1123Subdomain(prefix ? maskTrailingDash(name) : name);
export const NameIsDNSLabel: ValidateNameFunc = (name, prefix) => IsDNS1123Label(prefix ? maskTrailingDash(name) : name);
export const NameIsDNS1035Label: ValidateNameFunc = (name, prefix) => IsDNS1035Label(prefix ? maskTrailingDash(name) : name);
