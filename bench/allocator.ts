// ClusterIP allocation cost as a /16 fills up: 50k Services' worth of
// allocations in chunks of 5k, timing (a) the bare allocator and (b) the whole
// Service registry path (defaults already applied → allocation → validation).
// Flat times per allocation mean O(1): the chunked bitmap skips full chunks
// and copies one chunk per allocation, not the map.
//
//   npx tsc -p tsconfig.json && node dist/bench/allocator.js
import type { Service } from 'kubernetes-types/core/v1.js';
import { prng } from '../src/api/testing/prng.js';
import { withDefaults } from '../src/api/defaults/index.js';
import { allocateNextIP, newIPRange, type IPRange } from '../src/apiserver/registry/allocator/ip.js';
import { admitService, newServiceAllocatorState, type ServiceAllocatorState } from '../src/apiserver/registry/allocator/service.js';

const TOTAL = 50_000;
const CHUNK = 5_000;
const CIDR = '10.96.0.0/16';


function benchAllocator(): number[] {
  const rand = prng(1);
  let r: IPRange = newIPRange(CIDR);
  const perChunk: number[] = [];
  for (let done = 0; done < TOTAL; done += CHUNK) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < CHUNK; i++) {
      const res = allocateNextIP(r, rand);
      if (!res.ok) throw new Error(res.error.message);
      r = res.range;
    }
    perChunk.push(Number(process.hrtime.bigint() - t0) / 1e3 / CHUNK);
  }
  return perChunk;
}

function benchServices(): number[] {
  const rand = prng(2);
  let state: ServiceAllocatorState = newServiceAllocatorState({ serviceClusterIPRange: CIDR });
  const perChunk: number[] = [];
  for (let done = 0; done < TOTAL; done += CHUNK) {
    const requests: Service[] = [];
    for (let i = 0; i < CHUNK; i++) {
      requests.push(withDefaults('Service', {
        apiVersion: 'v1', kind: 'Service',
        metadata: { name: `svc-${done + i}`, namespace: 'default' },
        spec: { selector: { app: `app-${done + i}` }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
      }));
    }
    const t0 = process.hrtime.bigint();
    for (const service of requests) {
      const r = admitService({ service, state, rand });
      if (!r.ok) throw new Error(JSON.stringify(r.failure));
      state = r.state;
    }
    perChunk.push(Number(process.hrtime.bigint() - t0) / 1e3 / CHUNK);
  }
  return perChunk;
}

const bare = benchAllocator();
const full = benchServices();
console.log(`ClusterIP allocation from ${CIDR} (${TOTAL} allocations, chunks of ${CHUNK})`);
console.log('');
console.log('| allocations | allocator µs/alloc | Service create µs/alloc |');
console.log('|---:|---:|---:|');
for (let i = 0; i < bare.length; i++) {
  console.log(`| ${(i * CHUNK + 1).toLocaleString('en-US')}–${((i + 1) * CHUNK).toLocaleString('en-US')} | ${bare[i].toFixed(2)} | ${full[i].toFixed(2)} |`);
}
