// EndpointSlice validation (kube-apiserver pkg/apis/discovery/validation),
// with Kubernetes' messages.
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import type { FieldError } from '../errors.js';
import { field, invalidEach, Path } from './field.js';
import { ValidateImmutableField, ValidateLabels, ValidateObjectMeta, ValidateObjectMetaUpdate } from './meta.js';
import { IsDNS1123Label, IsDNS1123Subdomain, IsQualifiedName, IsValidIPv4Address, IsValidIPv6Address, NameIsDNSSubdomain } from './names.js';
import { ValidateNonSpecialIP } from './service.js';
import type { EndpointValidationOptions } from './core.js';

const supportedAddressTypes = ['FQDN', 'IPv4', 'IPv6'];
const supportedPortProtocols = ['SCTP', 'TCP', 'UDP'];
const maxTopologyLabels = 16;
const maxAddresses = 100;
const maxPorts = 20000;
const maxEndpoints = 1000;

/** IsFullyQualifiedDomainName: at least two labels, a trailing dot allowed. */
function validateFQDN(p: Path, name: string): FieldError[] {
  if (!name) return [field.required(p, '')];
  const n = name.endsWith('.') ? name.slice(0, -1) : name;
  const msgs = IsDNS1123Subdomain(n);
  if (msgs.length) return [field.invalid(p, n, msgs.join(','))];
  if (n.split('.').length < 2) return [field.invalid(p, n, 'should be a domain with at least two segments separated by dots')];
  for (const label of n.split('.')) {
    const lm = IsDNS1123Label(label);
    if (lm.length) return [field.invalid(p, label, lm.join(','))];
  }
  return [];
}

export function ValidateEndpointSlice(es: EndpointSlice, opts: EndpointValidationOptions = {}): FieldError[] {
  return [...ValidateObjectMeta(es.metadata, true, NameIsDNSSubdomain, Path.root('metadata')), ...validateEndpointSliceContent(es, opts)];
}

/** Everything ValidateEndpointSlice checks but the metadata. */
function validateEndpointSliceContent(es: EndpointSlice, opts: EndpointValidationOptions): FieldError[] {
  const errs: FieldError[] = [];
  const at = es.addressType ?? '';
  if (!at) errs.push(field.required(Path.root('addressType'), ''));
  else if (!supportedAddressTypes.includes(at)) errs.push(field.notSupported(Path.root('addressType'), at, supportedAddressTypes));

  const endpoints = es.endpoints ?? [];
  const ep = Path.root('endpoints');
  if (endpoints.length > maxEndpoints) {
    errs.push(field.tooMany(ep, endpoints.length, maxEndpoints));
  } else {
    endpoints.forEach((e, i) => {
      const idx = ep.index(i);
      const ap = idx.child('addresses');
      const addrs = e.addresses ?? [];
      if (addrs.length === 0) errs.push(field.required(ap, 'must contain at least 1 address'));
      else if (addrs.length > maxAddresses) errs.push(field.tooMany(ap, addrs.length, maxAddresses));
      addrs.forEach((a, j) => {
        // Unknown address types are not validated further.
        if (at === 'IPv4' || at === 'IPv6') {
          const msgs = at === 'IPv4' ? IsValidIPv4Address(a) : IsValidIPv6Address(a);
          if (msgs.length) errs.push(...invalidEach(ap.index(j), a, msgs));
          else {
            const special = ValidateNonSpecialIP(a, ap.index(j));
            errs.push(...(opts.allowLoopback ? special.filter((x) => !String(x.detail).includes('loopback')) : special));
          }
        } else if (at === 'FQDN') {
          errs.push(...validateFQDN(ap.index(j), a));
        }
      });
      if (e.nodeName !== undefined && e.nodeName !== null) errs.push(...invalidEach(idx.child('nodeName'), e.nodeName, NameIsDNSSubdomain(e.nodeName, false)));
      const topo = e.deprecatedTopology ?? {};
      if (Object.keys(topo).length > maxTopologyLabels) errs.push(field.tooMany(idx.child('deprecatedTopology'), Object.keys(topo).length, maxTopologyLabels));
      errs.push(...ValidateLabels(topo, idx.child('deprecatedTopology')));
      if (e.hostname !== undefined && e.hostname !== null) errs.push(...invalidEach(idx.child('hostname'), e.hostname, IsDNS1123Label(e.hostname)));
    });
  }

  const ports = es.ports ?? [];
  const pp = Path.root('ports');
  if (ports.length > maxPorts) {
    errs.push(field.tooMany(pp, ports.length, maxPorts));
  } else {
    const names = new Set<string>();
    ports.forEach((port, i) => {
      const idx = pp.index(i);
      const name = port.name ?? '';
      if (name) errs.push(...invalidEach(idx.child('name'), name, IsDNS1123Label(name)));
      if (names.has(name)) errs.push(field.duplicate(idx.child('name'), name));
      else names.add(name);
      if (port.protocol === undefined || port.protocol === null) errs.push(field.required(idx.child('protocol'), ''));
      else if (!supportedPortProtocols.includes(port.protocol)) errs.push(field.notSupported(idx.child('protocol'), port.protocol, supportedPortProtocols));
      if (port.appProtocol !== undefined && port.appProtocol !== null) errs.push(...invalidEach(idx.child('appProtocol'), port.appProtocol, IsQualifiedName(port.appProtocol)));
    });
  }
  return errs;
}

export function ValidateEndpointSliceUpdate(es: EndpointSlice, old: EndpointSlice, opts: EndpointValidationOptions = {}): FieldError[] {
  const errs = ValidateObjectMetaUpdate(es.metadata, old.metadata, Path.root('metadata'));
  // ValidateEndpointSlice without its metadata part (the update checks metadata its own way).
  errs.push(...validateEndpointSliceContent(es, opts));
  errs.push(...ValidateImmutableField(es.addressType ?? '', old.addressType ?? '', Path.root('addressType')));
  return errs;
}
