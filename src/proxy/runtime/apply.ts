// Appliers: the thin code that hands a rendered transaction to the kernel, behind one
// narrow interface (`RuleApplier`), with a stateful fake beside it (as knftables'
// Fake beside its Interface) that replays transactions onto the renderers' own kernel
// models and refuses what the kernel would refuse.
//
// - nftables: `nft -f -`, the script on stdin: one netlink transaction, all or nothing.
//   Small scripts (the incremental syncs) go to a long-lived `nft -i` instead, one line
//   per transaction (NftSession): no process to start per sync (8 ms on a quiet machine,
//   20+ ms on a busy one, against ~0.3 ms for the transaction itself).
// - iptables: `iptables-restore -w 5 --noflush` (ip6tables-restore for IPv6): atomic per
//   table. The jumps from built-in chains (PREROUTING, OUTPUT, …) are ensured as
//   kube-proxy's EnsureRule does (restore --noflush cannot "ensure" a rule in a chain it
//   does not own): each built-in chain is listed once with `-S`, and the missing jumps
//   are inserted by the same restore. Works with iptables-nft and iptables-legacy
//   (`variant`); with iptables-nft, whose chain handling is quadratic per call, new
//   endpoint chains are created by batches first (splitEndpointChains).
//
// Every command runs inside the node's network namespace (`nsenter --net=/run/netns/NS …`) when
// `netns` is given, else in the current one.
import type { IPFamily } from '../snapshot.js';
import type { IptablesJump } from '../iptables/render.js';
import { kubeProxyTable, renderNftablesCleanup } from '../nftables/render.js';
import { applyNftScript, dumpNftables, type NftModel, type NftTableModel } from '../nftables/model.js';
import { applyIptablesText, builtinChains, dumpIptables, parseRuleArgs, type IptTables } from '../iptables/model.js';
import { isIptablesServiceChain } from '../names.js';
import { ProxyError } from './errors.js';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { execRunner, inNetnsNetOnly, netnsPath, runChecked, type CommandRunner } from './exec.js';

export type KernelMode = 'nftables' | 'iptables';

/** Which iptables binaries: `nft` (iptables-nft), `legacy` (iptables-legacy), or undefined (the system's `iptables`). */
export type IptablesVariant = 'nft' | 'legacy';

export interface NftTransaction {
  kind: 'nftables';
  /** `nft -f` input: one transaction (may span the ip and ip6 tables). */
  script: string;
}

export interface IptablesTransaction {
  kind: 'iptables';
  family: IPFamily;
  /** `iptables-restore --noflush` input (filter and nat tables). */
  restore: string;
  /** Built-in chain jumps to ensure after the restore; empty to skip (partial syncs). */
  jumps: readonly IptablesJump[];
}

export type RuleTransaction = NftTransaction | IptablesTransaction;

export interface RuleApplier {
  readonly mode: KernelMode;
  /** Ends helper processes it keeps (optional); it applies again afterwards if asked, starting them anew. */
  close?(): Promise<void>;
  /** Applies one transaction; on rejection the kernel keeps what it had (per table for iptables). */
  apply(tx: RuleTransaction): Promise<void>;
  /** The proxy's rules as the kernel reports them (`nft list table`, `iptables-save` filtered to KUBE-). */
  listRules(): Promise<string>;
  /** User chains present in a table (iptables; nftables answers []): lets a full sync delete stale ones. */
  existingChains(family: IPFamily, table: 'filter' | 'nat'): Promise<string[]>;
  /** Removes every rule of this mode (kube-proxy --cleanup; also run for the other mode at start). */
  cleanup(): Promise<void>;
}

export interface ApplierOptions {
  /** Network namespace to run in (`nsenter --net=/run/netns/NAME`); undefined = the current one. */
  netns?: string;
  /** Default: real processes. */
  runner?: CommandRunner;
  /** Per command. Default 30 s. */
  timeoutMs?: number;
}

const nftFamilies = [['IPv4', 'ip'], ['IPv6', 'ip6']] as const;

function noSuchTable(stderr: string): boolean {
  return /No such file or directory|does not exist/i.test(stderr);
}

/** Scripts up to this size go through the NftSession (one line of `nft -i`); larger ones through `nft -f -`. */
export const nftSessionMaxScript = 256 * 1024;

/**
 * A long-lived `nft -i` (in the node's network namespace): each transaction is written as
 * one line, its commands joined by `;` (one line of nft input is one netlink batch: all or
 * nothing), followed by `describe meta mark`, whose known answer marks the end of the
 * transaction's output. Anything before it is nft's error message. nft checks the
 * ruleset generation before each command, so changes made meanwhile by other processes
 * (a full sync through `nft -f`) are seen. Transactions are serialized; a timeout or an
 * exit ends the process, and the next transaction starts a new one.
 */
export class NftSession {
  private child: ChildProcessWithoutNullStreams | undefined;
  private marker: string | undefined;
  private out = '';
  private pending: { resolve: (text: string) => void; reject: (e: Error) => void } | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly netns: string | undefined, private readonly timeoutMs: number) {}

  private argv(...args: string[]): string[] {
    return this.netns === undefined ? ['nft', ...args] : ['nsenter', `--net=${netnsPath(this.netns)}`, 'nft', ...args];
  }

  /** Applies one transaction; rejects with nft's message (COMMAND_FAILED) when nft refused it. */
  apply(script: string): Promise<void> {
    const run = this.queue.then(() => this.applyNow(script));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async applyNow(script: string): Promise<void> {
    const line = script.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#')).join(' ; ');
    if (line === '') return;
    this.marker ??= (await runChecked(execRunner, ['nft', 'describe', 'meta', 'mark'], { timeoutMs: this.timeoutMs })).stdout;
    const child = this.start();
    const text = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.stop();
        reject(new ProxyError('COMMAND_TIMEOUT', `nft -i: no answer after ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.pending = {
        resolve: (t) => { clearTimeout(timer); resolve(t); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      };
      child.stdin.write(`${line}\ndescribe meta mark\n`);
    });
    if (text.trim() !== '') {
      const detail = text.trim().split('\n').slice(0, 8).join('; ');
      throw new ProxyError('COMMAND_FAILED', `nft -i refused the transaction: ${detail}`);
    }
  }

  private start(): ChildProcessWithoutNullStreams {
    if (this.child) return this.child;
    // stderr joined to stdout (one ordered stream): nft's error comes before the marker.
    const child = spawn('sh', ['-c', 'exec "$@" 2>&1', 'nft-session', ...this.argv('-i')], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    this.out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      this.out += d;
      const i = this.marker ? this.out.indexOf(this.marker) : -1;
      if (i >= 0 && this.pending) {
        const text = this.out.slice(0, i);
        this.out = this.out.slice(i + this.marker!.length);
        const p = this.pending;
        this.pending = undefined;
        p.resolve(text);
      }
    });
    child.stderr.on('data', () => undefined);
    child.stdin.on('error', () => undefined);
    const gone = (why: string) => {
      if (this.child !== child) return;
      this.child = undefined;
      const p = this.pending;
      this.pending = undefined;
      p?.reject(new ProxyError('COMMAND_FAILED', `nft -i ${why}: ${this.out.trim().split('\n').slice(0, 8).join('; ')}`));
    };
    child.on('error', (e) => gone(e.message));
    child.on('exit', (code, signal) => gone(`exited (${signal ?? code})`));
    // Idle, it must not keep the process alive; a pending transaction's timer does.
    child.unref();
    for (const s of [child.stdin, child.stdout, child.stderr] as unknown as { unref?: () => void }[]) s.unref?.();
    return child;
  }

  private stop(): void {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    child.kill('SIGKILL');
  }

  async close(): Promise<void> {
    this.stop();
  }
}

export interface NftApplierOptions extends ApplierOptions {
  /**
   * Small transactions through a long-lived `nft -i` (NftSession). Default: on with the
   * real runner, off when `runner` is given (tests record `nft -f` calls).
   */
  session?: boolean;
}

export class NftApplier implements RuleApplier {
  readonly mode = 'nftables' as const;
  private readonly runner: CommandRunner;
  private readonly timeoutMs: number;
  private readonly session: NftSession | undefined;

  constructor(opts: NftApplierOptions = {}) {
    this.runner = inNetnsNetOnly(opts.runner ?? execRunner, opts.netns);
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    if (opts.session ?? opts.runner === undefined) this.session = new NftSession(opts.netns, this.timeoutMs);
  }

  async apply(tx: RuleTransaction): Promise<void> {
    if (tx.kind !== 'nftables') throw new ProxyError('COMMAND_FAILED', `the nftables applier cannot apply a ${tx.kind} transaction`);
    if (this.session && tx.script.length <= nftSessionMaxScript) return this.session.apply(tx.script);
    await runChecked(this.runner, ['nft', '-f', '-'], { stdin: tx.script, timeoutMs: this.timeoutMs });
  }

  async close(): Promise<void> {
    await this.session?.close();
  }

  async listRules(): Promise<string> {
    const parts: string[] = [];
    for (const [, fam] of nftFamilies) {
      const r = await this.runner.run(['nft', 'list', 'table', fam, kubeProxyTable], { timeoutMs: this.timeoutMs });
      if (r.code === 0) parts.push(r.stdout.trimEnd() + '\n');
      else if (!noSuchTable(r.stderr)) {
        throw new ProxyError('COMMAND_FAILED', `nft list table ${fam} ${kubeProxyTable} exited ${r.code}: ${r.stderr.trim()}`);
      }
    }
    return parts.join('');
  }

  async existingChains(): Promise<string[]> { return []; }

  async cleanup(): Promise<void> {
    // `add table` first makes the delete valid when the table is absent: one idempotent transaction.
    const script = nftFamilies.map(([family]) => renderNftablesCleanup(family)).join('');
    await runChecked(this.runner, ['nft', '-f', '-'], { stdin: script, timeoutMs: this.timeoutMs });
  }
}

export interface IptablesApplierOptions extends ApplierOptions {
  variant?: IptablesVariant;
  /** `-w`: seconds to wait for the xtables lock (iptables-legacy; harmless with nft). Default 5. */
  waitSeconds?: number;
}

interface IptablesBinaries { main: string; restore: string; save: string }

export function iptablesBinaries(family: IPFamily, variant?: IptablesVariant): IptablesBinaries {
  const base = family === 'IPv6' ? 'ip6tables' : 'iptables';
  const v = variant ? `-${variant}` : '';
  return { main: `${base}${v}`, restore: `${base}${v}-restore`, save: `${base}${v}-save` };
}

/** Chains that another agent (kubelet) owns even though they carry the KUBE- prefix. */
const foreignKubeChains = new Set(['KUBE-FIREWALL', 'KUBE-KUBELET-CANARY']);

function ownChain(chain: string): boolean {
  return chain.startsWith('KUBE-') && !foreignKubeChains.has(chain);
}

/** Keeps the KUBE- chains, their rules and the built-in chains' jumps into them from iptables-save output. */
export function filterKubeRules(save: string): string {
  const out: string[] = [];
  let section: string[] = [];
  let header = '';
  const flush = () => {
    if (section.length) out.push(header, ...section, 'COMMIT');
    section = [];
  };
  for (const raw of save.split('\n')) {
    const line = raw.trimEnd();
    if (line.startsWith('*')) {
      flush();
      header = line;
    } else if (line === 'COMMIT') {
      flush();
    } else if (line.startsWith(':KUBE-')) {
      section.push(line);
    } else if (line.startsWith('-A ')) {
      const chain = line.split(' ')[1] ?? '';
      if (chain.startsWith('KUBE-') || / -[jg] KUBE-/.test(line)) section.push(line);
    }
  }
  flush();
  return out.length ? out.join('\n') + '\n' : '';
}

/**
 * Adds `-I CHAIN 1 …` lines for the jumps to a restore input, at the end of their table's
 * section (after the KUBE- chains they name are declared), or in a section of their own.
 * Inserting at the top in reverse order leaves them in the listed order.
 */
export function withInserts(restore: string, jumps: readonly IptablesJump[]): string {
  let out = restore;
  for (const table of ['filter', 'nat'] as const) {
    const ins = jumps.filter((j) => j.table === table).reverse()
      .map((j) => `-I ${j.chain} 1 ${j.line.slice(`-A ${j.chain} `.length)}`);
    if (!ins.length) continue;
    const start = out.startsWith(`*${table}\n`) ? 0 : out.indexOf(`\n*${table}\n`) + 1;
    const commit = start > 0 || out.startsWith(`*${table}\n`) ? out.indexOf('\nCOMMIT\n', start) : -1;
    if (commit < 0) out += `*${table}\n${ins.join('\n')}\nCOMMIT\n`;
    else out = out.slice(0, commit + 1) + ins.join('\n') + out.slice(commit);
  }
  return out;
}

/** New endpoint chains per iptables-nft-restore call (its chain handling is quadratic per call). */
export const iptablesNftBatchChains = 5000;

/**
 * Splits an iptables-restore input so that the KUBE-SEP chains it declares, with their
 * rules, go first in batches of at most `max` chains, and everything else last. Each
 * batch is atomic on its own; the endpoint chains are only jumped to from KUBE-SVC/SVL
 * chains of the last batch, so traffic sees one switch, as with a single restore. The
 * chains endpoint rules jump to (KUBE-MARK-MASQ) are repeated in each batch. An input
 * with fewer endpoint chains is returned whole.
 */
export function splitEndpointChains(restore: string, max: number): string[] {
  if (!restore.includes('\n:KUBE-SEP-')) return [restore];
  const nat = restore.indexOf('*nat\n');
  if (nat < 0) return [restore];
  const end = restore.indexOf('\nCOMMIT\n', nat);
  const lines = restore.slice(nat + 5, end).split('\n');
  // Chains this restore deletes stay in the last batch: flushing them earlier would
  // empty chains that old rules still jump to.
  const deleted = new Set(lines.filter((l) => l.startsWith('-X ')).map((l) => l.slice(3)));
  const sep = new Map<string, string[]>();
  const markMasq: string[] = [];
  const rest: string[] = [];
  for (const l of lines) {
    if (l.startsWith(':KUBE-SEP-') && !deleted.has(l.slice(1, l.indexOf(' ')))) {
      sep.set(l.slice(1, l.indexOf(' ')), []);
      continue;
    } else if (l.startsWith('-A KUBE-SEP-')) {
      const rules = sep.get(l.slice(3, l.indexOf(' ', 3)));
      if (rules) {
        rules.push(l);
        continue;
      }
    }
    if (l === ':KUBE-MARK-MASQ - [0:0]' || l.startsWith('-A KUBE-MARK-MASQ ')) markMasq.push(l);
    rest.push(l);
  }
  if (sep.size <= max) return [restore];
  const names = [...sep.keys()];
  const out: string[] = [];
  const mm = markMasq;
  for (let i = 0; i < names.length; i += max) {
    const chunk = names.slice(i, i + max);
    const decl = [...mm.filter((l) => l.startsWith(':')), ...chunk.map((c) => `:${c} - [0:0]`)];
    const rules = [...mm.filter((l) => l.startsWith('-A')), ...chunk.flatMap((c) => sep.get(c)!)];
    out.push(['*nat', ...decl, ...rules, 'COMMIT', ''].join('\n'));
  }
  out.push(restore.slice(0, nat) + ['*nat', ...rest].join('\n') + restore.slice(end));
  return out;
}

function savedChains(save: string): string[] {
  const out: string[] = [];
  for (const line of save.split('\n')) if (line.startsWith(':')) out.push(line.slice(1).split(/\s+/)[0] ?? '');
  return out.filter((c) => c !== '');
}

export class IptablesApplier implements RuleApplier {
  readonly mode = 'iptables' as const;
  private readonly runner: CommandRunner;
  private readonly timeoutMs: number;
  private readonly wait: string[];

  constructor(private readonly opts: IptablesApplierOptions = {}) {
    this.runner = inNetnsNetOnly(opts.runner ?? execRunner, opts.netns);
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.wait = ['-w', String(opts.waitSeconds ?? 5)];
  }

  private bin(family: IPFamily): IptablesBinaries { return iptablesBinaries(family, this.opts.variant); }

  private async save(family: IPFamily, table: 'filter' | 'nat'): Promise<string> {
    return (await runChecked(this.runner, [this.bin(family).save, '-t', table], { timeoutMs: this.timeoutMs })).stdout;
  }

  async apply(tx: RuleTransaction): Promise<void> {
    if (tx.kind !== 'iptables') throw new ProxyError('COMMAND_FAILED', `the iptables applier cannot apply a ${tx.kind} transaction`);
    const bin = this.bin(tx.family);
    // The missing jumps go into the same restore: iptables-legacy rewrites a whole table
    // per commit, so a separate insert would cost as much as the sync itself.
    const text = tx.jumps.length ? withInserts(tx.restore, await this.missingJumps(tx.family, tx.jumps)) : tx.restore;
    if (!text) return;
    const restore = (stdin: string) => runChecked(this.runner, [bin.restore, ...this.wait, '--noflush'], { stdin, timeoutMs: this.timeoutMs });
    // iptables-nft 1.8 declares chains in time quadratic in their number per restore:
    // new endpoint chains go first, in batches (each atomic; nothing jumps to them yet).
    if (await this.isNft()) for (const batch of splitEndpointChains(text, iptablesNftBatchChains)) await restore(batch);
    else await restore(text);
  }

  private nftVariant: Promise<boolean> | undefined;

  /** Whether the binaries are iptables-nft (the system's `iptables` is asked once). */
  private isNft(): Promise<boolean> {
    if (this.opts.variant) return Promise.resolve(this.opts.variant === 'nft');
    return this.nftVariant ??= this.runner.run(['iptables', '--version'], { timeoutMs: this.timeoutMs })
      .then((r) => r.stdout.includes('nf_tables'), () => false);
  }

  /**
   * kube-proxy's EnsureRule(Prepend) for each jump, batched: each built-in chain is listed
   * once (`-S CHAIN`, in parallel; iptables-save would print the whole table), and the
   * jumps not found are returned, to be inserted by the sync's own restore.
   */
  private async missingJumps(family: IPFamily, jumps: readonly IptablesJump[]): Promise<IptablesJump[]> {
    const bin = this.bin(family);
    const chains = [...new Set(jumps.map((j) => `${j.table} ${j.chain}`))];
    const listed = await Promise.all(chains.map(async (tc) => {
      const [table, chain] = tc.split(' ') as [string, string];
      const r = await this.runner.run([bin.main, ...this.wait, '-t', table, '-S', chain], { timeoutMs: this.timeoutMs });
      return [tc, new Set(r.code === 0 ? r.stdout.split('\n').map((l) => l.trim()) : [])] as const;
    }));
    const present = new Map(listed);
    const missing: IptablesJump[] = [];
    for (const j of jumps) {
      if (present.get(`${j.table} ${j.chain}`)?.has(j.line)) continue;
      // Not found textually (a listing format that differs): ask iptables itself.
      const r = await this.runner.run([bin.main, ...this.wait, '-t', j.table, '-C', j.chain, ...j.args], { timeoutMs: this.timeoutMs });
      if (r.code !== 0) missing.push(j);
    }
    return missing;
  }

  async listRules(): Promise<string> {
    const parts: string[] = [];
    for (const family of ['IPv4', 'IPv6'] as const) {
      let text = '';
      for (const table of ['filter', 'nat'] as const) {
        try {
          text += filterKubeRules(await this.save(family, table));
        } catch (e) {
          // An IPv6 stack that is missing or disabled is no error for listing.
          if (family === 'IPv4') throw e;
        }
      }
      if (text) parts.push(`# ${family}\n${text}`);
    }
    return parts.join('');
  }

  async existingChains(family: IPFamily, table: 'filter' | 'nat'): Promise<string[]> {
    if (await this.isNft()) {
      // iptables-nft-save takes minutes at 100k chains; nft lists the chain names at once.
      const r = await this.runner.run(['nft', '-j', 'list', 'chains', family === 'IPv6' ? 'ip6' : 'ip'], { timeoutMs: this.timeoutMs })
        .catch(() => undefined);
      if (r?.code === 0) {
        try {
          const doc = JSON.parse(r.stdout) as { nftables?: { chain?: { table?: string; name?: string } }[] };
          return (doc.nftables ?? []).flatMap((o) => (o.chain?.table === table && o.chain.name ? [o.chain.name] : []));
        } catch {
          // fall back to iptables-save
        }
      }
    }
    return savedChains(await this.save(family, table));
  }

  async cleanup(): Promise<void> {
    for (const family of ['IPv4', 'IPv6'] as const) {
      const bin = this.bin(family);
      for (const table of ['filter', 'nat'] as const) {
        let save: string;
        try {
          save = await this.save(family, table);
        } catch (e) {
          if (family === 'IPv4') throw e;
          continue;
        }
        // Jumps from the built-in chains first: a chain still referenced cannot be deleted.
        for (const line of save.split('\n')) {
          const m = /^-A (\S+) (.* -[jg] (KUBE-\S+).*)$/.exec(line.trim());
          if (!m || !(builtinChains[table] ?? []).includes(m[1]!) || !ownChain(m[3]!)) continue;
          const args = splitSaveArgs(m[2]!);
          await runChecked(this.runner, [bin.main, ...this.wait, '-t', table, '-D', m[1]!, ...args], { timeoutMs: this.timeoutMs });
        }
        const chains = savedChains(save).filter(ownChain);
        if (!chains.length) continue;
        const restore = [`*${table}`, ...chains.map((c) => `:${c} - [0:0]`), ...chains.map((c) => `-X ${c}`), 'COMMIT', ''].join('\n');
        await runChecked(this.runner, [bin.restore, ...this.wait, '--noflush'], { stdin: restore, timeoutMs: this.timeoutMs });
      }
    }
  }
}

/** Splits iptables-save rule text into argv (double quotes group, as iptables-restore reads them). */
function splitSaveArgs(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  let has = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '\\' && text[i + 1] === '"') { cur += '"'; i++; } else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') { quoted = true; has = true; } else if (c === ' ') {
      if (has || cur) out.push(cur);
      cur = '';
      has = false;
    } else cur += c;
  }
  if (has || cur) out.push(cur);
  return out;
}

export interface ListRulesOptions {
  mode: KernelMode;
  netns?: string;
  variant?: IptablesVariant;
  runner?: CommandRunner;
}

/** The proxy's rules in a namespace as the kernel reports them (`svcnet rules <node>`). */
export function listRules(opts: ListRulesOptions): Promise<string> {
  const applier = opts.mode === 'nftables'
    ? new NftApplier({ netns: opts.netns, runner: opts.runner })
    : new IptablesApplier({ netns: opts.netns, runner: opts.runner, variant: opts.variant });
  return applier.listRules();
}

/** Makes the applier for a kernel mode. */
export function createApplier(mode: KernelMode, opts: IptablesApplierOptions = {}): RuleApplier {
  return mode === 'nftables' ? new NftApplier(opts) : new IptablesApplier(opts);
}

// ---------------------------------------------------------------- fake

/**
 * A stateful fake kernel: nftables transactions are replayed onto an `NftModel`,
 * iptables ones onto one `IptTables` per family, each on a copy that replaces the
 * state only when the whole transaction went through (the kernel's atomicity).
 * What the model refuses (a rule in a missing chain, deleting a chain still in use…)
 * is rejected with APPLY_REJECTED. `failNext` injects failures.
 */
export class FakeRuleApplier implements RuleApplier {
  /** Every transaction that was applied successfully, in order. */
  readonly applied: RuleTransaction[] = [];
  /** Every transaction offered, including refused ones. */
  readonly attempted: RuleTransaction[] = [];
  nft: NftModel = new Map();
  readonly iptables = new Map<IPFamily, IptTables>();
  private faults: { error: Error; times: number }[] = [];
  cleanups = 0;

  constructor(readonly mode: KernelMode) {}

  /** The next `times` apply() calls fail with `error` and change nothing. */
  failNext(times = 1, error: Error = new ProxyError('APPLY_REJECTED', 'injected failure')): void {
    this.faults.push({ error, times });
  }

  async apply(tx: RuleTransaction): Promise<void> {
    this.attempted.push(tx);
    const f = this.faults[0];
    if (f) {
      if (--f.times <= 0) this.faults.shift();
      throw f.error;
    }
    if (tx.kind !== this.mode) throw new ProxyError('APPLY_REJECTED', `a ${this.mode} applier got a ${tx.kind} transaction`);
    try {
      if (tx.kind === 'nftables') {
        const next = structuredClone(this.nft);
        applyNftScript(next, tx.script);
        this.nft = next;
      } else {
        const next = structuredClone(this.iptables.get(tx.family) ?? new Map());
        applyIptablesText(next, tx.restore);
        ensureJumpsInModel(next, tx.jumps);
        this.iptables.set(tx.family, next);
      }
    } catch (e) {
      throw new ProxyError('APPLY_REJECTED', (e as Error).message, { cause: e });
    }
    this.applied.push(tx);
  }

  async listRules(): Promise<string> {
    if (this.mode === 'nftables') return this.nft.size ? dumpNftables(this.nft) : '';
    const parts: string[] = [];
    for (const [family, tables] of [...this.iptables].sort()) parts.push(`# ${family}\n${dumpIptables(tables)}`);
    return parts.join('');
  }

  async existingChains(family: IPFamily, table: 'filter' | 'nat'): Promise<string[]> {
    const t = this.iptables.get(family)?.get(table);
    if (!t) return [];
    return [...t.keys()].filter((c) => !(builtinChains[table] ?? []).includes(c));
  }

  async cleanup(): Promise<void> {
    this.cleanups++;
    this.nft = new Map();
    this.iptables.clear();
  }

  /** The nft table of a family, if present (tests). */
  nftTable(family: IPFamily): NftTableModel | undefined {
    return this.nft.get(`${family === 'IPv6' ? 'ip6' : 'ip'} ${kubeProxyTable}`);
  }

  /** Service chains (KUBE-SVC-… etc.) present in the iptables nat table of a family (tests). */
  iptablesServiceChains(family: IPFamily): string[] {
    return [...(this.iptables.get(family)?.get('nat')?.keys() ?? [])].filter(isIptablesServiceChain).sort();
  }
}

function ensureJumpsInModel(tables: IptTables, jumps: readonly IptablesJump[]): void {
  const missing = jumps.filter((j) => {
    const chain = tables.get(j.table)?.get(j.chain);
    const text = parseRuleArgs([...j.args]).text;
    return !chain?.rules.some((r) => r.text === text);
  });
  for (const j of missing.reverse()) {
    const rest = j.line.slice(`-A ${j.chain} `.length);
    applyIptablesText(tables, `*${j.table}\n-I ${j.chain} 1 ${rest}\nCOMMIT\n`);
  }
}
