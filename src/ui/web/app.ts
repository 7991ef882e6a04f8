// The page: list + watch four resources from the Kubernetes API (relative URLs,
// so it works wherever `kubectl proxy` mounts the API), draw the topology, and
// ask /ui/api/trace for the path a packet takes, again whenever the cluster
// changes. Plain DOM, no framework.
import type { Node, Pod, Service } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import type { PathView, TraceView } from '../trace-view.js';
import { Cache, LineSplitter, portsText, topologyView, type KObject, type TopologyView, type WatchEvent } from './topology.js';

// ------------------------------------------------------------------ API access

/** The API root: the page is served at <root>/ui/. */
const apiRoot = new URL('../', location.href);

const caches = {
  nodes: new Cache<Node & KObject>(),
  pods: new Cache<Pod & KObject>(),
  services: new Cache<Service & KObject>(),
  slices: new Cache<EndpointSlice & KObject>(),
};
const paths: Record<keyof typeof caches, string> = {
  nodes: 'api/v1/nodes',
  pods: 'api/v1/pods',
  services: 'api/v1/services',
  slices: 'apis/discovery.k8s.io/v1/endpointslices',
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

class StatusFailure extends Error {}

async function getJSON<T>(url: URL): Promise<T> {
  const r = await fetch(url, { headers: { Accept: 'application/json' } });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new StatusFailure((body as { message?: string }).message ?? `${r.status} ${r.statusText}`);
  return body as T;
}

const live = new Set<string>();

/** client-go's reflector, small: list, then watch from the list's resourceVersion; relist on 410 Gone; back off on failure. */
async function reflect(name: keyof typeof caches): Promise<never> {
  const cache = caches[name] as Cache<KObject>;
  let backoff = 500;
  for (;;) {
    try {
      const list = await getJSON<{ items: KObject[]; metadata: { resourceVersion: string } }>(new URL(paths[name], apiRoot));
      cache.replace(list.items, list.metadata.resourceVersion);
      changed();
      let relist = false;
      while (!relist) {
        const u = new URL(paths[name], apiRoot);
        u.searchParams.set('watch', 'true');
        u.searchParams.set('resourceVersion', cache.resourceVersion);
        u.searchParams.set('allowWatchBookmarks', 'true');
        u.searchParams.set('timeoutSeconds', String(240 + Math.floor(Math.random() * 120)));
        const r = await fetch(u);
        if (!r.ok || !r.body) throw new StatusFailure(`watch ${name}: ${r.status}`);
        live.add(name);
        connection();
        backoff = 500;
        const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
        const lines = new LineSplitter();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          for (const line of lines.push(value)) {
            const what = cache.apply(JSON.parse(line) as WatchEvent);
            if (what === 'changed') changed();
            if (what === 'relist') relist = true;
          }
          if (relist) { await reader.cancel(); break; }
        }
      }
    } catch (e) {
      live.delete(name);
      connection(e instanceof Error ? e.message : String(e));
      await sleep(backoff);
      backoff = Math.min(backoff * 2, 10_000);
    }
  }
}

// ------------------------------------------------------------------ DOM helpers

type Child = Node_ | string | null | undefined | false;
type Node_ = globalThis.Node;

function h(tag: string, attrs: Record<string, string | ((e: Event) => void) | undefined> = {}, ...children: (Child | Child[])[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined) continue;
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v);
  }
  for (const c of children.flat()) if (c) el.append(c);
  return el;
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

function badge(text: string, kind: 'ok' | 'bad' | 'warn' | 'info'): HTMLElement {
  return h('span', { class: `badge ${kind}` }, text);
}

function connection(err?: string): void {
  const el = $('conn');
  const all = live.size === Object.keys(caches).length;
  el.className = `conn ${all ? 'live' : err ? 'down' : ''}`;
  el.textContent = all ? 'live' : err ? `reconnecting (${err})` : 'connecting…';
}

// ------------------------------------------------------------------ topology

let view: TopologyView = { nodes: [], unscheduled: [], services: [] };
let traced: TraceView | undefined;
let scheduled = false;

function changed(): void {
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(() => {
    scheduled = false;
    view = topologyView({ nodes: caches.nodes.items(), pods: caches.pods.items(), services: caches.services.items(), slices: caches.slices.items() });
    renderTopology();
    fillForm();
    retraceSoon();
  });
}

function highlights(): { endpoints: Set<string>; sourcePod?: string; sourceNode?: string; entry?: string } {
  const endpoints = new Set<string>();
  if (!traced) return { endpoints };
  for (const p of traced.paths) for (const e of p.endpoints) endpoints.add(e.ip);
  const s = traced.source;
  return {
    endpoints,
    sourcePod: s.kind === 'pod' && s.name ? `${s.namespace}/${s.name}` : undefined,
    sourceNode: s.kind === 'node' ? s.name : undefined,
    entry: traced.node.name,
  };
}

function renderTopology(): void {
  const hl = highlights();
  const pod = (p: TopologyView['unscheduled'][number]) => h('div', {
    class: `pod${p.ip && hl.endpoints.has(p.ip) ? ' hl-endpoint' : ''}${hl.sourcePod === `${p.namespace}/${p.name}` ? ' hl-source' : ''}`,
    title: `${p.namespace}/${p.name}: ${p.phase}${p.ready ? ', Ready' : ', not Ready'}${p.terminating ? ', terminating' : ''} — click to send from this pod`,
    onclick: () => pick({ from: `pod/${p.namespace}/${p.name}` }),
  },
  h('span', { class: `dot${p.terminating ? ' term' : p.ready ? ' ok' : ''}` }),
  h('span', {}, p.namespace === 'default' ? p.name : `${p.namespace}/${p.name}`),
  p.hostNetwork ? badge('hostNetwork', 'info') : null,
  h('span', { class: 'ip mono' }, p.ip ?? p.phase));
  const nodes = view.nodes.map((n) => h('div', {
    class: `node${hl.entry === n.name ? ' hl-entry' : ''}${hl.sourceNode === n.name ? ' hl-source' : ''}`,
  },
  h('h3', {}, n.name, n.ready ? badge('Ready', 'ok') : badge('NotReady', 'bad'), n.unschedulable ? badge('SchedulingDisabled', 'warn') : null),
  h('div', { class: 'meta mono' }, `InternalIP ${n.internalIP ?? '–'} · pods ${n.podCIDR ?? '–'}`),
  n.pods.length ? n.pods.map(pod) : h('div', { class: 'none' }, 'no pods')));
  if (view.unscheduled.length) nodes.push(h('div', { class: 'node' }, h('h3', {}, 'not scheduled'), view.unscheduled.map(pod)));
  $('nodes').replaceChildren(...(nodes.length ? nodes : [h('div', { class: 'none' }, 'no nodes (the control plane alone?)')]));

  const sel = $<HTMLSelectElement>('f-service').value;
  const rows = view.services.map((s) => h('tr', {
    class: `svc${sel === `${s.namespace}/${s.name}` ? ' selected' : ''}`,
    title: 'click to trace this Service',
    onclick: () => pick({ service: `${s.namespace}/${s.name}` }),
  },
  h('td', {}, s.namespace === 'default' ? s.name : `${s.namespace}/${s.name}`),
  h('td', {}, s.type, s.externalTrafficPolicy === 'Local' ? h('div', {}, badge('external: Local', 'info')) : null,
    s.internalTrafficPolicy === 'Local' ? h('div', {}, badge('internal: Local', 'info')) : null),
  h('td', { class: 'mono' }, s.clusterIP),
  h('td', { class: 'mono' }, s.externalIP),
  h('td', { class: 'mono' }, portsText(s.ports)),
  h('td', { class: 'mono' }, s.selector),
  h('td', {}, s.endpoints.length
    ? h('div', { class: 'eps' }, s.endpoints.map((e) => h('span', {
      class: `ep mono${!e.ready && !e.serving ? ' notready' : ''}${e.terminating ? ' terminating' : ''}`,
      title: `${e.pod ?? ''}${e.node ? ` on ${e.node}` : ''} — ready=${e.ready} serving=${e.serving} terminating=${e.terminating}`,
    }, e.ip)))
    : h('span', { class: 'none' }, s.selector === '<none>' ? 'no selector' : 'no endpoints')),
  h('td', { class: 'mono' }, s.endpointPorts.join(', '))));
  $('services').replaceChildren(h('table', {},
    h('thead', {}, h('tr', {}, ['name', 'type', 'cluster-ip', 'external-ip', 'port(s)', 'selector', 'endpoints', 'endpoint ports'].map((c) => h('th', {}, c)))),
    h('tbody', {}, rows)));
}

// ------------------------------------------------------------------ the trace form

function setOptions(sel: HTMLSelectElement, options: [value: string, label: string][]): void {
  const keep = sel.value;
  const same = sel.options.length === options.length && options.every(([v, l], i) => sel.options[i]!.value === v && sel.options[i]!.text === l);
  if (!same) sel.replaceChildren(...options.map(([v, l]) => { const o = document.createElement('option'); o.value = v; o.text = l; return o; }));
  if (options.some(([v]) => v === keep)) sel.value = keep;
}

function fillForm(): void {
  const svc = $<HTMLSelectElement>('f-service');
  setOptions(svc, [['', '— pick a Service —'], ...view.services.map((s): [string, string] => [`${s.namespace}/${s.name}`, `${s.namespace}/${s.name} (${s.type})`])]);
  const chosen = view.services.find((s) => `${s.namespace}/${s.name}` === svc.value);
  setOptions($('f-port'), [['', 'every port'], ...(chosen?.ports ?? []).map((p): [string, string] => [p.name || String(p.port), `${p.name ? `${p.name} ` : ''}${p.port}/${p.protocol}`])]);
  const from: [string, string][] = [['client', 'the client (outside, on the LAN)']];
  for (const n of view.nodes) from.push([`node/${n.name}`, `node ${n.name}`]);
  for (const n of view.nodes) for (const p of n.pods) if (p.ip && !p.hostNetwork) from.push([`pod/${p.namespace}/${p.name}`, `pod ${p.namespace}/${p.name} (${n.name})`]);
  setOptions($('f-from'), from);
  setOptions($('f-via'), view.nodes.map((n): [string, string] => [n.name, `${n.name} (${n.internalIP ?? '?'})`]));
  $('l-via').classList.toggle('hidden', $<HTMLSelectElement>('f-from').value !== 'client');
}

function pick(p: { service?: string; from?: string }): void {
  if (p.service) $<HTMLSelectElement>('f-service').value = p.service;
  if (p.from) $<HTMLSelectElement>('f-from').value = p.from;
  fillForm();
  renderTopology();
  void retrace();
  $('trace-panel').scrollIntoView?.({ behavior: 'smooth', block: 'start' });
}

let timer: ReturnType<typeof setTimeout> | undefined;
function retraceSoon(): void {
  clearTimeout(timer);
  timer = setTimeout(() => void retrace(), 250);
}

let generation = 0;
async function retrace(): Promise<void> {
  const val = (id: string) => $<HTMLSelectElement>(id).value;
  const out = $('trace-out');
  const [namespace, service] = val('f-service').split('/');
  if (!service) {
    traced = undefined;
    out.replaceChildren(h('p', { class: 'none' }, 'No Service picked.'));
    return;
  }
  const q = new URLSearchParams({ namespace: namespace!, service, from: val('f-from') || 'client' });
  if (val('f-mode')) q.set('mode', val('f-mode'));
  if (val('f-port')) q.set('port', val('f-port'));
  if (q.get('from') === 'client' && val('f-via')) q.set('via', val('f-via'));
  const mine = ++generation;
  try {
    const t = await getJSON<TraceView>(new URL(`api/trace?${q}`, location.href));
    if (mine !== generation) return;
    traced = t;
    out.replaceChildren(...(t.paths.length ? t.paths.map((p) => renderPath(t, p)) : [h('p', { class: 'none' }, 'No address of this Service is reachable from there (a ClusterIP is not reachable from outside the cluster).')]));
  } catch (e) {
    if (mine !== generation) return;
    traced = undefined;
    out.replaceChildren(h('p', { class: 'error' }, e instanceof Error ? e.message : String(e)));
  }
  renderTopology();
}

const pct = (p: number) => `${(p * 100).toFixed(1)}%`;

function renderPath(t: TraceView, p: PathView): HTMLElement {
  const s = t.source;
  const src = h('div', { class: 'box src' },
    s.kind === 'client' ? 'client' : s.kind === 'node' ? `node ${s.name ?? ''}` : `pod ${s.name ? `${s.namespace}/${s.name}` : '(any)'}`,
    h('span', { class: 'small mono' }, `${s.ip}${s.node && s.kind === 'pod' ? ` on ${s.node}` : ''}`));
  const proxy = h('div', { class: 'box proxy' }, `${t.node.name} · ${t.mode}`,
    h('span', { class: 'small mono' }, `${p.kind} ${p.address}:${p.port}/${p.protocol}`));
  let right: HTMLElement;
  if (p.verdict === 'DNAT') {
    right = h('div', { class: 'branches' }, p.endpoints.map((e) => {
      const bar = h('span', { class: 'bar' });
      bar.style.width = `${Math.max(2, Math.round(e.probability * 80))}px`;
      return h('div', { class: 'branch' },
        h('span', { class: 'prob' }, pct(e.probability)), bar,
        h('span', { class: 'arrow' }, t.mode === 'userspace' ? 'relay →' : 'DNAT →'),
        h('span', { class: 'box' }, e.sameNode ? `${e.node ?? t.node.name} (this node)` : `${e.node ?? '?'} via LAN ${e.nodeIP ?? ''}`),
        h('span', { class: 'arrow' }, '→'),
        h('span', { class: 'box mono' }, `${e.pod ? `pod ${e.pod.name} ` : ''}${e.ip}:${e.port}`),
        e.masquerade ? badge('masquerade', 'warn') : badge('client IP kept', 'ok'),
        e.conditions && e.conditions.ready === false ? badge(e.conditions.serving ? 'terminating, still serving' : 'not ready', 'warn') : null);
    }));
  } else {
    right = h('div', { class: `box verdict-${p.verdict}` }, p.verdict);
  }
  const rules = p.branches.map((b) => `${pct(b.probability).padStart(6)}  ${b.verdict}${b.endpoint ? ` → ${b.endpoint.ip}:${b.endpoint.port}` : ''}${b.masquerade ? '  (masquerade)' : ''}\n        via ${b.chainPath.join(' > ')}\n${b.steps.map((st) => `          [${st.chain}] ${st.rule}`).join('\n')}`).join('\n');
  return h('div', { class: 'path' },
    h('h3', {}, h('span', { class: 'mono' }, p.target), p.verdict === 'DNAT' ? badge('DNAT', 'ok') : badge(p.verdict, 'bad'), p.masquerade ? badge('masquerade', 'warn') : null),
    h('p', { class: 'summary' }, p.summary),
    h('div', { class: 'flow' }, src, h('span', { class: 'arrow' }, '→'), proxy, right),
    h('details', {}, h('summary', {}, 'rules matched, chain by chain'), h('pre', {}, rules || '(none)'), p.notes.length ? h('pre', {}, p.notes.map((n) => `note: ${n}`).join('\n')) : null));
}

// ------------------------------------------------------------------ start

for (const id of ['f-service', 'f-port', 'f-from', 'f-via', 'f-mode']) {
  $(id).addEventListener('change', () => { fillForm(); renderTopology(); void retrace(); });
}
fillForm();
void retrace();
for (const k of Object.keys(caches) as (keyof typeof caches)[]) void reflect(k);
