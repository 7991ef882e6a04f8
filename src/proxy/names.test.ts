import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  base32, hashAndTruncate, iptablesEndpointChain, iptablesServiceChains, isIptablesServiceChain, isNftServiceChain,
  joinHostPort, nftChainNameBaseLengthMax, nftEndpointNames, nftServiceChains, portProtoHash, servicePortNameString,
} from './names.js';

describe('kernel object names', () => {
  it('base32 is RFC 4648 with padding (Go StdEncoding)', () => {
    const enc = (s: string) => base32(new TextEncoder().encode(s));
    assert.equal(enc(''), '');
    assert.equal(enc('f'), 'MY======');
    assert.equal(enc('fo'), 'MZXQ====');
    assert.equal(enc('foo'), 'MZXW6===');
    assert.equal(enc('foob'), 'MZXW6YQ=');
    assert.equal(enc('fooba'), 'MZXW6YTB');
    assert.equal(enc('foobar'), 'MZXW6YTBOI======');
  });

  it('names service ports like kube-proxy', () => {
    assert.equal(servicePortNameString('ns1', 'svc1', 'p80'), 'ns1/svc1:p80');
    assert.equal(servicePortNameString('ns1', 'svc1', ''), 'ns1/svc1');
    assert.equal(joinHostPort('10.0.0.1', 80), '10.0.0.1:80');
    assert.equal(joinHostPort('fd00::1', 80), '[fd00::1]:80');
  });

  it('matches kube-proxy iptables chain names', () => {
    // Values from kubernetes pkg/proxy/iptables/proxier_test.go.
    assert.equal(iptablesServiceChains('ns1/svc1:p80', 'tcp').cluster, 'KUBE-SVC-XPGD46QRK7WJZT7O');
    assert.equal(iptablesEndpointChain('ns1/svc1:p80', 'tcp', '10.180.0.1:80'), 'KUBE-SEP-SXIVWICOYRO3J4NJ');
    const svc2 = iptablesServiceChains('ns2/svc2:p80', 'TCP');
    assert.deepEqual(svc2, {
      cluster: 'KUBE-SVC-GNZBNJ2PO5MGZ6GT',
      local: 'KUBE-SVL-GNZBNJ2PO5MGZ6GT',
      external: 'KUBE-EXT-GNZBNJ2PO5MGZ6GT',
      firewall: 'KUBE-FW-GNZBNJ2PO5MGZ6GT',
    });
    assert.equal(portProtoHash('ns2/svc2:p80', 'tcp'), 'GNZBNJ2PO5MGZ6GT');
    assert.ok(isIptablesServiceChain('KUBE-SEP-SXIVWICOYRO3J4NJ'));
    assert.ok(!isIptablesServiceChain('KUBE-SERVICES'));
  });

  it('keeps iptables names within 28 characters of [A-Z0-9-]', () => {
    const long = 'n'.repeat(63);
    for (const c of [...Object.values(iptablesServiceChains(`${long}/${long}:${long}`, 'sctp')),
      iptablesEndpointChain(`${long}/${long}:${long}`, 'sctp', '[fd00:1234:5678:9abc:def0:1234:5678:9abc]:65535')]) {
      assert.ok(c.length <= 28, c);
      assert.match(c, /^[A-Z0-9-]+$/);
    }
  });

  it('matches kube-proxy nftables chain names', () => {
    // Values from kubernetes pkg/proxy/nftables/proxier_test.go.
    assert.equal(nftServiceChains('ns1', 'svc1', 'tcp', 'p80').cluster, 'service-ULMVA6XW-ns1/svc1/tcp/p80');
    assert.equal(nftEndpointNames('ns1', 'svc1', 'tcp', 'p80', '10.180.0.1', 80).chain, 'endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80');
    assert.equal(nftServiceChains('ns2', 'svc2', 'tcp', 'p80').external, 'external-42NFTM6N-ns2/svc2/tcp/p80');
    assert.equal(nftEndpointNames('ns2', 'svc2', 'tcp', 'p80', '10.180.0.2', 80).chain, 'endpoint-SGOXE6O3-ns2/svc2/tcp/p80__10.180.0.2/80');
    assert.deepEqual(nftEndpointNames('ns5', 'svc5', 'tcp', 'p80', '10.180.0.3', 80), {
      chain: 'endpoint-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80',
      affinitySet: 'affinity-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80',
    });
    assert.equal(nftServiceChains('ns5', 'svc5', 'tcp', 'p80').firewall, 'firewall-HVFWP5L3-ns5/svc5/tcp/p80');
    assert.ok(isNftServiceChain('service-ULMVA6XW-ns1/svc1/tcp/p80'));
    assert.ok(!isNftServiceChain('services'));
  });

  it('replaces IPv6 colons in nft names and truncates over-long names', () => {
    const v6 = nftEndpointNames('ns', 'svc', 'udp', 'dns', 'fd00:10:244:1::11', 53).chain;
    assert.match(v6, /^endpoint-[A-Z2-7]{8}-ns\/svc\/udp\/dns__fd00\.10\.244\.1\.\.11\/53$/);
    const long = hashAndTruncate('x'.repeat(300));
    assert.equal(long.length, nftChainNameBaseLengthMax);
    assert.ok(long.endsWith('...'));
    assert.notEqual(hashAndTruncate('x'.repeat(300) + 'a'), hashAndTruncate('x'.repeat(300) + 'b'));
  });
});
