import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  IsConfigMapKey, IsDNS1035Label, IsDNS1123Label, IsDNS1123Subdomain, IsQualifiedName, IsValidCIDR, IsValidIP,
  IsValidLabelValue, IsValidPortName, IsValidPortNum, NameIsDNS1035Label,
} from './names.js';
import { canonicalIP, parseCIDRSloppy, formatCIDR } from './ip.js';

const label1123 = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const sub1123 = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const label1035 = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
const qnameName = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

const cases: { name: string; fn: (v: string) => string[]; value: string; want: string[] }[] = [
  { name: 'DNS-1123 label ok', fn: IsDNS1123Label, value: '123-abc', want: [] },
  { name: 'DNS-1123 label upper case', fn: IsDNS1123Label, value: 'My-Name', want: [label1123] },
  { name: 'DNS-1123 label with dots', fn: IsDNS1123Label, value: 'a.b', want: ['must not contain dots'] },
  { name: 'DNS-1123 label too long', fn: IsDNS1123Label, value: 'a'.repeat(64), want: ['must be no more than 63 characters'] },
  { name: 'DNS-1123 subdomain ok', fn: IsDNS1123Subdomain, value: 'example.com', want: [] },
  { name: 'DNS-1123 subdomain bad', fn: IsDNS1123Subdomain, value: 'Example.com', want: [sub1123] },
  { name: 'DNS-1123 subdomain too long', fn: IsDNS1123Subdomain, value: 'a'.repeat(254), want: ['must be no more than 253 characters'] },
  { name: 'DNS-1035 label ok', fn: IsDNS1035Label, value: 'abc-123', want: [] },
  { name: 'DNS-1035 label starting with a digit', fn: IsDNS1035Label, value: '1abc', want: [label1035] },
  { name: 'DNS-1035 label too long and bad', fn: IsDNS1035Label, value: '-'.repeat(64), want: ['must be no more than 63 characters', label1035] },
  { name: 'port name ok', fn: IsValidPortName, value: 'http-alt', want: [] },
  { name: 'port name too long', fn: IsValidPortName, value: 'abcdefghijklmnop', want: ['must be no more than 15 characters'] },
  { name: 'port name charset', fn: IsValidPortName, value: 'http_x', want: ['must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)'] },
  { name: 'port name digits only', fn: IsValidPortName, value: '8080', want: ['must contain at least one letter (a-z)'] },
  { name: 'port name double hyphen', fn: IsValidPortName, value: 'a--b', want: ['must not contain consecutive hyphens'] },
  { name: 'port name hyphen ends', fn: IsValidPortName, value: '-ab', want: ['must not begin or end with a hyphen'] },
  { name: 'qualified name ok', fn: IsQualifiedName, value: 'example.com/My_Name.1', want: [] },
  { name: 'qualified name bad name', fn: IsQualifiedName, value: '-a', want: [qnameName] },
  { name: 'qualified name empty prefix', fn: IsQualifiedName, value: '/a', want: ['prefix part must be non-empty'] },
  { name: 'qualified name bad prefix', fn: IsQualifiedName, value: 'Ex/a', want: ['prefix part ' + sub1123] },
  { name: 'qualified name empty name', fn: IsQualifiedName, value: 'a/', want: ['name part must be non-empty', qnameName] },
  { name: 'qualified name too many slashes', fn: IsQualifiedName, value: 'a/b/c', want: ["a valid label key must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"] },
  { name: 'label value ok (empty)', fn: IsValidLabelValue, value: '', want: [] },
  { name: 'label value bad', fn: IsValidLabelValue, value: 'a b', want: ["a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"] },
  { name: 'IP ok (leading zeros are sloppy-valid)', fn: IsValidIP, value: '010.001.002.003', want: [] },
  { name: 'IP ok v6', fn: IsValidIP, value: '2001:db8::ffff', want: [] },
  { name: 'IP bad', fn: IsValidIP, value: '1.2.3', want: ['must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'] },
  { name: 'CIDR ok', fn: IsValidCIDR, value: '10.0.0.1/8', want: [] },
  { name: 'CIDR bad', fn: IsValidCIDR, value: '10.0.0.0/33', want: ['must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)'] },
  { name: 'config map key', fn: IsConfigMapKey, value: '..x', want: ["must not start with '..'"] },
];

for (const c of cases) {
  test(`names: ${c.name}`, () => assert.deepEqual(c.fn(c.value), c.want));
}

test('names: port numbers', () => {
  assert.deepEqual(IsValidPortNum(1), []);
  assert.deepEqual(IsValidPortNum(65535), []);
  assert.deepEqual(IsValidPortNum(0), ['must be between 1 and 65535, inclusive']);
  assert.deepEqual(IsValidPortNum(65536), ['must be between 1 and 65535, inclusive']);
});

test('names: generateName masks its trailing dash', () => {
  assert.deepEqual(NameIsDNS1035Label('web-', true), []);
  assert.deepEqual(NameIsDNS1035Label('web-', false), [label1035]);
});

test('ip: Go formatting and CIDR parsing', () => {
  assert.equal(canonicalIP('2001:0db8:0000:0000:0000:0000:0000:0001'), '2001:db8::1');
  assert.equal(canonicalIP('2001:db8:0:1:0:0:0:1'), '2001:db8:0:1::1');
  assert.equal(canonicalIP('2001:db8:0:1:1:1:1:1'), '2001:db8:0:1:1:1:1:1');
  assert.equal(canonicalIP('::ffff:10.0.0.1'), '10.0.0.1');
  assert.equal(canonicalIP('::'), '::');
  assert.equal(canonicalIP('1::'), '1::');
  assert.equal(canonicalIP('1:2:3:4:5:6:7::'), '1:2:3:4:5:6:7:0');
  assert.equal(canonicalIP('1:::2'), undefined);
  assert.equal(canonicalIP('1.2.3.256'), undefined);
  assert.equal(formatCIDR(parseCIDRSloppy('10.96.3.4/16')!), '10.96.0.0/16');
  assert.equal(formatCIDR(parseCIDRSloppy('fd00:1::5/108')!), 'fd00:1::/108');
});
