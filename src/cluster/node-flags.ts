// V8 flags every long-running svcnet process runs with: bin/svcnet.js passes them in its
// shebang (`env -S`), and svcnet's own re-executions of itself (rootless `up`) and the
// benchmarks that spawn its components pass them on the command line.
//
// --max-semi-space-size=64 (MiB; V8's default ceiling is 16): the API server and the
// controller manager allocate a young object per decoded event and request, and keep
// caches of thousands of objects. With the default young generation they scavenge ~2–3
// times a second under churn, each pause up to 27–31 ms, promoting short-lived objects
// that then cost major GCs; at 64 MiB the same 1,000-change phase at 100 changes/s took
// 6 scavenges (77 ms in all) instead of 25 (164 ms) in the API server, 4 (46 ms) instead
// of 16 (108 ms) in the controller manager (bench/churn.ts --probe, docs/benchmarks.md).
// The young generation starts at 1 MiB and grows only as a process allocates that fast.
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=64'];
