import { MemoryStore } from './memory.js';
import { storeConformance } from './conformance.js';

storeConformance('memory', async (options) => new MemoryStore(options), { propertyRuns: 300 });
