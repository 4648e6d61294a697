// A test Kubernetes API server: what flannel's kube subnet manager uses
// (the API conventions as flannel-facts and kube-api notes describe them), written from
// the API conventions and checked against kubectl in its own test:
// discovery, GET/LIST/WATCH nodes with resourceVersions, newline-delimited
// watch events, bookmarks, 410 Gone for versions outside the kept history,
// strategic-merge and merge PATCH of nodes and nodes/<n>/status, DELETE,
// GET pods, bearer-token auth with per-token verbs (403 names them), TLS,
// and client certificates (optional or required, verified against the
// test CA; the certificate's CN is the user, with grants per CN).
//
// For outage tests: stop() and start() again (same socket, same state),
// endWatches() (the server ends every watch, as at its timeout), compact()
// (older versions answer 410 Gone, as an ERROR event or, with
// expiredWatchAs = 'status', as the HTTP status).
//
// It listens on a unix socket in this (root-namespace) test process; a
// byte-pipe proxy (kube-proxy.ts) started inside a test namespace makes it
// https://127.0.0.1:6443 there, so nothing listens outside namespaces.

import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { join } from 'node:path';
import type { Netns } from '../../src/lab/netns';
import { tempDir } from '../../src/lab/agent-process';

export interface KubeNode {
  apiVersion: 'v1';
  kind: 'Node';
  metadata: {
    name: string;
    resourceVersion: string;
    uid: string;
    creationTimestamp: string;
    annotations: Record<string, string>;
    labels: Record<string, string>;
  };
  spec: { podCIDR?: string; podCIDRs?: string[] };
  status: { conditions: Record<string, unknown>[]; addresses: { type: string; address: string }[] };
}

export interface Recorded {
  method: string;
  path: string;
  contentType: string | undefined;
  body: string;
  token: string | undefined;
  /** CN of a verified client certificate. */
  clientCN: string | undefined;
  /** Date.now() when the request arrived. */
  at: number;
  /** For a LIST: the list's resourceVersion. */
  listRv?: string;
}

export interface KubeApiServerOptions {
  /** Ask for client certificates: 'optional' verifies one when sent, 'require' refuses TLS without one. */
  clientCerts?: 'none' | 'optional' | 'require';
  /** Serve the API under this path only (e.g. /k8s/clusters/c-1, as a Rancher-style proxy does); other paths are 404. */
  pathPrefix?: string;
}

type Json = Record<string, unknown>;

/** A self-signed CA and a server certificate for 127.0.0.1, made with openssl. */
export function makeCerts(dir: string): { ca: string; cert: string; key: string; caPem: string } {
  const f = (n: string): string => join(dir, n);
  const ssl = (...args: string[]): void => void execFileSync('openssl', args, { stdio: 'pipe' });
  ssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=weft-test-ca',
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.crt'),
  );
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=kube-apiserver', '-keyout', f('server.key'), '-out', f('server.csr'));
  writeFileSync(f('san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  ssl(
    'x509',
    '-req',
    '-in',
    f('server.csr'),
    '-CA',
    f('ca.crt'),
    '-CAkey',
    f('ca.key'),
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    f('san.ext'),
    '-out',
    f('server.crt'),
  );
  return { ca: f('ca.crt'), cert: f('server.crt'), key: f('server.key'), caPem: readFileSync(f('ca.crt'), 'utf8') };
}

/** A client certificate for user `cn` signed by the CA of makeCerts(dir) (or of another dir: a CA the server does not trust). */
export function makeClientCert(dir: string, cn: string, name = cn.replace(/[^A-Za-z0-9_-]/g, '_')): { cert: string; key: string } {
  const f = (n: string): string => join(dir, n);
  const ssl = (...args: string[]): void => void execFileSync('openssl', args, { stdio: 'pipe' });
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/O=system:nodes/CN=${cn}`, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`));
  writeFileSync(f(`${name}.ext`), 'extendedKeyUsage=clientAuth\n');
  ssl(
    'x509',
    '-req',
    '-in',
    f(`${name}.csr`),
    '-CA',
    f('ca.crt'),
    '-CAkey',
    f('ca.key'),
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    f(`${name}.ext`),
    '-out',
    f(`${name}.crt`),
  );
  return { cert: f(`${name}.crt`), key: f(`${name}.key`) };
}

function isObj(v: unknown): v is Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Strategic merge (kube-api.md "Patches"): maps merge, null deletes, conditions/addresses merge by type. */
export function strategicMerge(target: unknown, patch: unknown, key = ''): unknown {
  if (!isObj(patch)) {
    if (Array.isArray(patch) && Array.isArray(target) && (key === 'conditions' || key === 'addresses')) {
      const out = target.map((x) => ({ ...(x as Json) }));
      for (const p of patch as Json[]) {
        const i = out.findIndex((x) => x.type === p.type);
        if (i >= 0) out[i] = strategicMerge(out[i], p) as Json;
        else out.push(p);
      }
      return out;
    }
    return patch;
  }
  const out: Json = isObj(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = strategicMerge(out[k], v, k);
  }
  return out;
}

/** RFC 7386 merge patch. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObj(patch)) return patch;
  const out: Json = isObj(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

const kResources = [
  {
    name: 'nodes',
    singularName: 'node',
    namespaced: false,
    kind: 'Node',
    verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
    shortNames: ['no'],
  },
  { name: 'nodes/status', singularName: '', namespaced: false, kind: 'Node', verbs: ['get', 'patch', 'update'] },
  { name: 'pods', singularName: 'pod', namespaced: true, kind: 'Pod', verbs: ['get', 'list'], shortNames: ['po'] },
];

export class KubeApiServer {
  readonly dir: string;
  readonly socket: string;
  readonly certs: ReturnType<typeof makeCerts>;
  /** token → allowed "resource verb" pairs ('*' for all). */
  readonly tokens = new Map<string, Set<string> | '*'>();
  /** client certificate CN → allowed "resource verb" pairs ('*' for all). */
  readonly certUsers = new Map<string, Set<string> | '*'>();
  /** How a watch from a compacted version is refused: an ERROR event in a 200 stream (kube-apiserver's way), or HTTP 410. */
  expiredWatchAs: 'event' | 'status' = 'event';
  readonly requests: Recorded[] = [];
  readonly nodes = new Map<string, KubeNode>();
  readonly pods = new Map<string, Json>();
  #rv = 100;
  /** Events kept for watches: [rv, type, object]. Older than #oldest → 410. */
  #history: { rv: number; type: string; object: KubeNode }[] = [];
  #oldest = 0;
  #server: https.Server | undefined;
  readonly #watchers = new Set<{ res: ServerResponse; send: (type: string, obj: unknown) => void }>();
  readonly #sockets = new Set<Socket>();

  readonly #clientCerts: 'none' | 'optional' | 'require';
  readonly #pathPrefix: string | undefined;
  readonly #failWatches = new Map<string, { n: number; code: number }>();
  /** Requests outside pathPrefix (answered 404). */
  readonly unprefixed: string[] = [];

  constructor(o: KubeApiServerOptions = {}) {
    this.dir = tempDir('kubeapi');
    this.socket = join(this.dir, 'api.sock');
    this.certs = makeCerts(this.dir);
    this.tokens.set('admin-token', '*');
    this.#clientCerts = o.clientCerts ?? 'none';
    this.#pathPrefix = o.pathPrefix?.replace(/\/+$/, '');
  }

  /** Is the server answering (between start() and stop())? */
  get running(): boolean {
    return this.#server !== undefined;
  }

  get resourceVersion(): string {
    return String(this.#rv);
  }

  async start(): Promise<void> {
    rmSync(this.socket, { force: true });
    const tls: https.ServerOptions = { cert: readFileSync(this.certs.cert), key: readFileSync(this.certs.key) };
    if (this.#clientCerts !== 'none') {
      tls.ca = readFileSync(this.certs.ca);
      tls.requestCert = true;
      tls.rejectUnauthorized = this.#clientCerts === 'require';
    }
    const server = https.createServer(tls, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        try {
          this.#handle(req, res, Buffer.concat(chunks).toString('utf8'));
        } catch (err) {
          this.#status(res, 500, 'InternalError', (err as Error).message);
        }
      });
    });
    server.on('connection', (s: Socket) => {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    });
    await new Promise<void>((resolve) => server.listen(this.socket, resolve));
    this.#server = server;
  }

  /** Stops answering: every connection (watches too) is cut, as an API server going away. */
  async stop(): Promise<void> {
    const s = this.#server;
    this.#server = undefined;
    for (const w of this.#watchers) w.res.destroy();
    this.#watchers.clear();
    for (const sock of this.#sockets) sock.destroy();
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }

  /** Ends every open watch stream cleanly (as the server's watch timeout does); clients watch again from their last version. */
  endWatches(): number {
    const n = this.#watchers.size;
    for (const w of this.#watchers) w.res.end();
    this.#watchers.clear();
    return n;
  }

  /** The next `n` watch requests made with `token` get an ERROR event with this code (a Status, e.g. 500 InternalError) and the stream ends. */
  failWatches(token: string, n: number, code = 500): void {
    this.#failWatches.set(token, { n, code });
  }

  /** Open watch streams. */
  get watchCount(): number {
    return this.#watchers.size;
  }

  /** Forgets watch history up to now: a watch from an older version gets 410 Gone. */
  compact(): void {
    this.#oldest = this.#rv;
    this.#history = [];
  }

  /** Sends a bookmark with the current version to every open watch that asked for them. */
  bookmark(): void {
    for (const w of this.#watchers)
      w.send('BOOKMARK', { kind: 'Node', apiVersion: 'v1', metadata: { resourceVersion: this.resourceVersion } });
  }

  #event(type: string, node: KubeNode): void {
    this.#history.push({ rv: Number(node.metadata.resourceVersion), type, object: node });
    for (const w of this.#watchers) w.send(type, node);
  }

  addNode(
    name: string,
    o: {
      podCIDR?: string;
      /** Dual stack: both podCIDRs (the first is also spec.podCIDR). */
      podCIDRs?: string[];
      annotations?: Record<string, string>;
      labels?: Record<string, string>;
      address?: string;
    } = {},
  ): KubeNode {
    const node: KubeNode = {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name,
        resourceVersion: String(++this.#rv),
        uid: `uid-${name}-${this.#rv}`,
        creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        annotations: { ...(o.annotations ?? {}) },
        labels: { 'kubernetes.io/hostname': name, ...(o.labels ?? {}) },
      },
      spec: o.podCIDRs
        ? { podCIDR: o.podCIDRs[0]!, podCIDRs: [...o.podCIDRs] }
        : o.podCIDR
          ? { podCIDR: o.podCIDR, podCIDRs: [o.podCIDR] }
          : {},
      status: { conditions: [], addresses: o.address ? [{ type: 'InternalIP', address: o.address }] : [] },
    };
    this.nodes.set(name, node);
    this.#event('ADDED', node);
    return node;
  }

  /** Changes a node as the API would (new resourceVersion, MODIFIED event). */
  updateNode(name: string, fn: (n: KubeNode) => void): KubeNode {
    const old = this.nodes.get(name);
    if (!old) throw new Error(`no node ${name}`);
    const n = structuredClone(old);
    fn(n);
    n.metadata.resourceVersion = String(++this.#rv);
    this.nodes.set(name, n);
    this.#event('MODIFIED', n);
    return n;
  }

  deleteNode(name: string): void {
    const n = this.nodes.get(name);
    if (!n) return;
    this.nodes.delete(name);
    const gone = structuredClone(n);
    gone.metadata.resourceVersion = String(++this.#rv);
    this.#event('DELETED', gone);
  }

  #status(res: ServerResponse, code: number, reason: string, message: string): void {
    res.writeHead(code, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code }));
  }

  #json(res: ServerResponse, body: unknown): void {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  #allowed(token: string | undefined, cn: string | undefined, resource: string, verb: string): 'ok' | 401 | 403 {
    const grants = token ? this.tokens.get(token) : cn ? this.certUsers.get(cn) : undefined;
    if (!grants) return 401;
    return grants === '*' || grants.has(`${resource} ${verb}`) ? 'ok' : 403;
  }

  #handle(req: IncomingMessage, res: ServerResponse, body: string): void {
    let raw = req.url ?? '/';
    const prefix = this.#pathPrefix;
    if (prefix) {
      if (!raw.startsWith(`${prefix}/`)) {
        this.unprefixed.push(raw);
        return this.#status(res, 404, 'NotFound', `the server could not find the requested resource (${raw})`);
      }
      raw = raw.slice(prefix.length);
    }
    const url = new URL(raw, 'https://x');
    const auth = req.headers.authorization;
    const token = auth?.startsWith('Bearer ') ? auth.slice(7) : undefined;
    const method = req.method ?? 'GET';
    const sock = req.socket as TLSSocket;
    const peer = sock.authorized ? sock.getPeerCertificate() : undefined;
    const clientCN = peer && typeof peer.subject?.CN === 'string' ? peer.subject.CN : undefined;
    const rec: Recorded = {
      method,
      path: url.pathname + url.search,
      contentType: req.headers['content-type'],
      body,
      token,
      clientCN,
      at: Date.now(),
    };
    this.requests.push(rec);
    const p = url.pathname.replace(/\/+$/, '');
    const user = token ? 'system:serviceaccount:kube-flannel:flannel' : (clientCN ?? 'system:anonymous');
    // Discovery (kubectl): no auth checks beyond a known token or certificate.
    if (this.#allowed(token, clientCN, '', '') === 401) return this.#status(res, 401, 'Unauthorized', 'Unauthorized');
    if (p === '/version') return this.#json(res, { major: '1', minor: '30', gitVersion: 'v1.30.0-weft-test', platform: 'linux/amd64' });
    if (p === '/api')
      return this.#json(res, {
        kind: 'APIVersions',
        versions: ['v1'],
        serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1:6443' }],
      });
    if (p === '/apis') return this.#json(res, { kind: 'APIGroupList', apiVersion: 'v1', groups: [] });
    if (p === '/api/v1') return this.#json(res, { kind: 'APIResourceList', groupVersion: 'v1', resources: kResources });
    const check = (resource: string, verb: string, what: string): boolean => {
      const a = this.#allowed(token, clientCN, resource, verb);
      if (a === 'ok') return true;
      this.#status(
        res,
        403,
        'Forbidden',
        `${what} is forbidden: User "${user}" cannot ${verb} resource "${resource.split('/')[0]}"${resource.includes('/') ? `/${resource.split('/')[1]}` : ''} in API group "" at the cluster scope`,
      );
      return false;
    };
    let m: RegExpExecArray | null;
    if (p === '/api/v1/nodes' && method === 'GET') {
      if (url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1') {
        if (!check('nodes', 'watch', 'nodes')) return;
        return this.#watch(url, res, token);
      }
      if (!check('nodes', 'list', 'nodes')) return;
      rec.listRv = this.resourceVersion;
      return this.#json(res, {
        kind: 'NodeList',
        apiVersion: 'v1',
        metadata: { resourceVersion: this.resourceVersion },
        items: [...this.nodes.values()],
      });
    }
    if ((m = /^\/api\/v1\/nodes\/([^/]+)(\/status)?$/.exec(p))) {
      const name = decodeURIComponent(m[1]!);
      const sub = m[2] ? 'nodes/status' : 'nodes';
      const node = this.nodes.get(name);
      const verb = method === 'GET' ? 'get' : method === 'PATCH' ? 'patch' : method === 'DELETE' ? 'delete' : method.toLowerCase();
      if (!check(sub, verb, `nodes "${name}"`)) return;
      if (!node) return this.#status(res, 404, 'NotFound', `nodes "${name}" not found`);
      if (method === 'GET') return this.#json(res, node);
      if (method === 'DELETE') {
        this.deleteNode(name);
        return this.#json(res, { kind: 'Status', apiVersion: 'v1', status: 'Success', details: { name, kind: 'nodes' } });
      }
      if (method === 'PATCH') {
        const ct = (req.headers['content-type'] ?? '').split(';')[0];
        let patch: unknown;
        try {
          patch = JSON.parse(body);
        } catch {
          return this.#status(res, 400, 'BadRequest', 'the patch is not JSON');
        }
        const merge =
          ct === 'application/strategic-merge-patch+json' ? strategicMerge : ct === 'application/merge-patch+json' ? mergePatch : undefined;
        if (!merge) return this.#status(res, 415, 'UnsupportedMediaType', `the content type ${ct} is not supported`);
        let next = merge(node, patch) as KubeNode;
        // The status subresource keeps spec; the main resource keeps status.
        next = m[2] ? { ...next, spec: node.spec } : { ...next, status: node.status };
        const updated = this.updateNode(name, (n) => Object.assign(n, next, { metadata: { ...next.metadata, name } }));
        return this.#json(res, updated);
      }
      return this.#status(res, 405, 'MethodNotAllowed', `${method} is not allowed`);
    }
    if ((m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)$/.exec(p)) && method === 'GET') {
      if (!check('pods', 'get', `pods "${m[2]}"`)) return;
      const pod = this.pods.get(`${decodeURIComponent(m[1]!)}/${decodeURIComponent(m[2]!)}`);
      return pod ? this.#json(res, pod) : this.#status(res, 404, 'NotFound', `pods "${m[2]}" not found`);
    }
    return this.#status(res, 404, 'NotFound', `the server could not find the requested resource (${method} ${p})`);
  }

  #watch(url: URL, res: ServerResponse, token: string | undefined): void {
    const from = url.searchParams.get('resourceVersion');
    const bookmarks = url.searchParams.get('allowWatchBookmarks') === 'true';
    const timeout = Number(url.searchParams.get('timeoutSeconds') ?? '0');
    const expired = from !== null && from !== '' && from !== '0' && Number(from) < this.#oldest;
    const message = `too old resource version: ${from} (${this.#oldest})`;
    if (expired && this.expiredWatchAs === 'status') return this.#status(res, 410, 'Expired', message);
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    const send = (type: string, object: unknown): void => {
      if (type === 'BOOKMARK' && !bookmarks) return;
      res.write(`${JSON.stringify({ type, object })}\n`);
    };
    const fail = this.#failWatches.get(token ?? '');
    if (fail && fail.n > 0) {
      fail.n--;
      const code = fail.code;
      send('ERROR', {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: 'injected watch failure',
        reason: 'InternalError',
        code,
      });
      res.end();
      return;
    }
    if (expired) {
      send('ERROR', {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message,
        reason: 'Expired',
        code: 410,
      });
      res.end();
      return;
    }
    if (!from || from === '0') for (const n of this.nodes.values()) send('ADDED', n);
    else for (const e of this.#history) if (e.rv > Number(from)) send(e.type, e.object);
    const w = { res, send };
    this.#watchers.add(w);
    const done = (): void => {
      this.#watchers.delete(w);
    };
    res.on('close', done);
    if (timeout > 0) setTimeout(() => res.end(), timeout * 1000).unref();
  }

  /** A kubeconfig for `token`, pointing at https://127.0.0.1:6443 (the proxy in a namespace). */
  kubeconfig(token = 'admin-token', file = join(this.dir, `kubeconfig-${token}.yaml`)): string {
    writeFileSync(
      file,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        '- name: test',
        '  cluster:',
        '    server: https://127.0.0.1:6443',
        `    certificate-authority-data: ${Buffer.from(this.certs.caPem).toString('base64')}`,
        'users:',
        '- name: weft',
        '  user:',
        `    token: ${token}`,
        'contexts:',
        '- name: test',
        '  context:',
        '    cluster: test',
        '    user: weft',
        'current-context: test',
        '',
      ].join('\n'),
    );
    return file;
  }

  /**
   * A kubeconfig whose user is a client certificate for `cn` (no token):
   * `files` names the CA, certificate and key by paths relative to the
   * kubeconfig (as kubectl resolves them), else they are inline (-data).
   */
  kubeconfigCert(cn: string, o: { files?: boolean; dir?: string; cert?: { cert: string; key: string }; server?: string } = {}): string {
    const dir = o.dir ?? this.dir;
    const c = o.cert ?? makeClientCert(this.dir, cn);
    const name = cn.replace(/[^A-Za-z0-9_-]/g, '_');
    const file = join(dir, `kubeconfig-cert-${name}${o.files ? '-files' : ''}.yaml`);
    const b64 = (path: string): string => readFileSync(path).toString('base64');
    let cluster: string;
    let user: string[];
    if (o.files) {
      // Copies beside the kubeconfig, named relatively.
      writeFileSync(join(dir, `${name}-ca.crt`), readFileSync(this.certs.ca));
      writeFileSync(join(dir, `${name}-client.crt`), readFileSync(c.cert));
      writeFileSync(join(dir, `${name}-client.key`), readFileSync(c.key));
      cluster = `    certificate-authority: ${name}-ca.crt`;
      user = [`    client-certificate: ${name}-client.crt`, `    client-key: ${name}-client.key`];
    } else {
      cluster = `    certificate-authority-data: ${b64(this.certs.ca)}`;
      user = [`    client-certificate-data: ${b64(c.cert)}`, `    client-key-data: ${b64(c.key)}`];
    }
    writeFileSync(
      file,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        '- name: test',
        '  cluster:',
        `    server: ${o.server ?? `https://127.0.0.1:6443${this.#pathPrefix ?? ''}`}`,
        cluster,
        'users:',
        `- name: ${cn}`,
        '  user:',
        ...user,
        'contexts:',
        '- name: test',
        '  context:',
        '    cluster: test',
        `    user: ${cn}`,
        'current-context: test',
        '',
      ].join('\n'),
    );
    return file;
  }

  /**
   * The distinct requests received (optionally only those matching `filter`):
   * method, path with node and pod names as <node>/<ns>/<pod>, the query
   * parameter names, the content type and the body's shape (JSON with its
   * string values replaced by their type).
   */
  requestSummary(filter: (r: Recorded) => boolean = () => true): string[] {
    const shape = (v: unknown): unknown =>
      Array.isArray(v)
        ? v.map(shape)
        : isObj(v)
          ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, shape(x)]))
          : typeof v === 'string'
            ? 'string'
            : v;
    const out = new Set<string>();
    for (const r of this.requests.filter(filter)) {
      const u = new URL(r.path, 'https://x');
      const path = u.pathname
        .replace(/^\/api\/v1\/nodes\/[^/]+/, '/api/v1/nodes/<node>')
        .replace(/^\/api\/v1\/namespaces\/[^/]+\/pods\/[^/]+/, '/api/v1/namespaces/<ns>/pods/<pod>');
      const q = [...u.searchParams.keys()].map((k) =>
        k === 'watch' || k === 'allowWatchBookmarks' ? `${k}=${u.searchParams.get(k)}` : `${k}=…`,
      );
      let body = '';
      if (r.body) {
        try {
          body = ` ${r.contentType ?? ''} ${JSON.stringify(shape(JSON.parse(r.body)))}`;
        } catch {
          body = ` ${r.contentType ?? ''} (${r.body.length} bytes, not JSON)`;
        }
      }
      out.add(`${r.method} ${path}${q.length ? `?${q.join('&')}` : ''}${body}`);
    }
    return [...out];
  }

  /** Starts the proxy in `ns`: https://127.0.0.1:6443 there reaches this server. */
  proxyIn(ns: Netns): void {
    const child = ns.spawn(process.execPath, [join(__dirname, 'kube-proxy.js'), '127.0.0.1', '6443', this.socket]);
    child.stdout!.resume();
    child.stderr!.resume();
  }

  /** Waits until the proxy in `ns` accepts connections. */
  async proxyReady(ns: Netns): Promise<void> {
    for (let i = 0; i < 100; i++) {
      try {
        ns.exec('bash', '-c', 'exec 3<>/dev/tcp/127.0.0.1/6443');
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    throw new Error(`the API proxy in ${ns.name} does not listen`);
  }

  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
