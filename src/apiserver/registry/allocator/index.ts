// The Service registry's allocators: ClusterIP ranges, the NodePort range,
// the Service-level allocation transaction and the repair run. See README.md.
export * from './bitmap.js';
export * from './ip.js';
export * from './port.js';
export * from './service.js';
export * from './repair.js';
