// A small Kubernetes API client: exactly the calls flannel's kube subnet
// manager makes (kube-api.md "Paths and verbs"), over node:https with the
// credentials of a kubeconfig or of the pod's service account.
//
// Why not @kubernetes/client-node: weft needs five requests (GET/LIST/WATCH
// nodes, PATCH nodes/<n>/status, GET a pod). client-node brings ~40
// dependencies and an ESM-only 1.x line for that; a watch here is a
// newline-delimited JSON stream, which node:https reads directly.
//
// Credentials, as client-go resolves them:
//   --kubeconfig-file: the current context's cluster (server,
//     certificate-authority[-data], insecure-skip-tls-verify) and user (token,
//     tokenFile, client-certificate[-data] + client-key[-data]);
//   otherwise in-cluster: https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT,
//     the service account's ca.crt and token (re-read on every request:
//     projected tokens rotate) in /var/run/secrets/kubernetes.io/serviceaccount,
//     or in $WEFT_SERVICE_ACCOUNT_DIR when set (tests; a non-standard mount).
//   --kube-api-url overrides the server either way.

import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { parse as parseYaml } from 'yaml';
import { ErrorCode, WeftError } from '../errors';

export interface KubeClientOptions {
  /** --kube-api-url: the API server, e.g. https://10.0.0.1:6443. */
  apiUrl?: string;
  /** --kubeconfig-file. */
  kubeconfigFile?: string;
  /** Environment for in-cluster config (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Service account directory (default $WEFT_SERVICE_ACCOUNT_DIR, else /var/run/secrets/kubernetes.io/serviceaccount). */
  serviceAccountDir?: string;
}

interface Credentials {
  server: URL;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  insecure: boolean;
  token: () => string | undefined;
}

/** A failed API call: the HTTP status and the API's Status reason, with one readable line. */
export class KubeApiError extends WeftError {
  readonly status: number;
  readonly reason: string | undefined;
  constructor(message: string, status: number, reason: string | undefined) {
    super(ErrorCode.STORE, message, { recoverable: status === 0 || status === 429 || status >= 500 || status === 410 });
    this.status = status;
    this.reason = reason;
  }
}

function usage(message: string, option: string): WeftError {
  return new WeftError(ErrorCode.USAGE, message, { option });
}

function readOrThrow(path: string, what: string, option: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw usage(`${what} ${path} cannot be read: ${(err as Error).message}`, option);
  }
}

function obj(v: unknown): Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

function named(list: unknown, name: unknown, what: string, file: string): Record<string, unknown> {
  const found = (Array.isArray(list) ? list : []).find((e) => obj(e).name === name);
  if (!found) throw usage(`kubeconfig ${file}: no ${what} named ${JSON.stringify(name)}`, 'kubeconfig-file');
  return obj(obj(found)[what]);
}

function fromKubeconfig(file: string, apiUrl: string | undefined): Credentials {
  const text = readOrThrow(file, '--kubeconfig-file', 'kubeconfig-file').toString('utf8');
  let doc: Record<string, unknown>;
  try {
    doc = obj(parseYaml(text) as unknown);
  } catch (err) {
    throw usage(`kubeconfig ${file} is not valid: ${(err as Error).message}`, 'kubeconfig-file');
  }
  const contextName = doc['current-context'];
  const context = named(doc.contexts, contextName, 'context', file);
  const cluster = named(doc.clusters, context.cluster, 'cluster', file);
  const user = context.user === undefined ? {} : named(doc.users, context.user, 'user', file);
  const base = file.replace(/[^/]*$/, '');
  const path = (p: unknown): string => (String(p).startsWith('/') ? String(p) : base + String(p));
  const pem = (fileKey: string, dataKey: string, src: Record<string, unknown>): Buffer | undefined => {
    if (typeof src[dataKey] === 'string') return Buffer.from(src[dataKey], 'base64');
    if (typeof src[fileKey] === 'string') return readOrThrow(path(src[fileKey]), `kubeconfig ${fileKey}`, 'kubeconfig-file');
    return undefined;
  };
  const server = apiUrl ?? (typeof cluster.server === 'string' ? cluster.server : undefined);
  if (!server)
    throw usage(`kubeconfig ${file}: cluster ${JSON.stringify(context.cluster)} has no server (or give --kube-api-url)`, 'kubeconfig-file');
  const tokenFile = typeof user.tokenFile === 'string' ? path(user.tokenFile) : undefined;
  const token = typeof user.token === 'string' ? user.token : undefined;
  const creds: Credentials = {
    server: parseServer(server),
    insecure: cluster['insecure-skip-tls-verify'] === true,
    token: () => token ?? (tokenFile ? readFileSync(tokenFile, 'utf8').trim() : undefined),
  };
  const ca = pem('certificate-authority', 'certificate-authority-data', cluster);
  const cert = pem('client-certificate', 'client-certificate-data', user);
  const key = pem('client-key', 'client-key-data', user);
  if (ca) creds.ca = ca;
  if (cert) creds.cert = cert;
  if (key) creds.key = key;
  return creds;
}

function parseServer(s: string): URL {
  try {
    const u = new URL(s);
    if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new Error('not http(s)');
    return u;
  } catch {
    throw usage(`the API server address ${JSON.stringify(s)} is not an http(s) URL`, 'kube-api-url');
  }
}

export const kServiceAccountDir = '/var/run/secrets/kubernetes.io/serviceaccount';

function inCluster(o: KubeClientOptions): Credentials {
  const env = o.env ?? process.env;
  const dir = o.serviceAccountDir ?? (env.WEFT_SERVICE_ACCOUNT_DIR || kServiceAccountDir);
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!o.apiUrl && (!host || !port)) {
    throw usage(
      'no Kubernetes API to talk to: give --kubeconfig-file or --kube-api-url, or run in a pod (KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT unset)',
      'kube-subnet-mgr',
    );
  }
  const server = o.apiUrl ?? `https://${host!.includes(':') ? `[${host}]` : host}:${port}`;
  const tokenPath = `${dir}/token`;
  let ca: Buffer | undefined;
  try {
    ca = readFileSync(`${dir}/ca.crt`);
  } catch {
    ca = undefined; // --kube-api-url to a plain http server, or a CA the system trusts
  }
  return {
    server: parseServer(server),
    ...(ca ? { ca } : {}),
    insecure: false,
    token: () => {
      try {
        return readFileSync(tokenPath, 'utf8').trim();
      } catch {
        return undefined;
      }
    },
  };
}

export interface KubeResponse {
  status: number;
  body: unknown;
}

/** Which RBAC grant a request needs, for the 403 line. */
export interface Permission {
  resource: string;
  verb: string;
}

export class KubeClient {
  readonly server: string;
  readonly #c: Credentials;
  readonly #agent: http.Agent;
  readonly #base: string;

  constructor(o: KubeClientOptions) {
    this.#c = o.kubeconfigFile ? fromKubeconfig(o.kubeconfigFile, o.apiUrl) : inCluster(o);
    // A server URL with a path (a proxy such as Rancher's /k8s/clusters/<id>) prefixes every request, as client-go does.
    this.#base = this.#c.server.pathname.replace(/\/+$/, '');
    this.server = this.#c.server.origin + this.#base;
    const tls = this.#c.server.protocol === 'https:';
    this.#agent = tls
      ? new https.Agent({
          keepAlive: true,
          ...(this.#c.ca ? { ca: this.#c.ca } : {}),
          ...(this.#c.cert ? { cert: this.#c.cert } : {}),
          ...(this.#c.key ? { key: this.#c.key } : {}),
          rejectUnauthorized: !this.#c.insecure,
        })
      : new http.Agent({ keepAlive: true });
  }

  #options(method: string, path: string, headers: Record<string, string>): https.RequestOptions {
    const token = this.#c.token();
    return {
      method,
      protocol: this.#c.server.protocol,
      hostname: this.#c.server.hostname.replace(/^\[|\]$/g, ''),
      port: this.#c.server.port || (this.#c.server.protocol === 'https:' ? 443 : 80),
      path: this.#base + path,
      agent: this.#agent,
      headers: {
        Accept: 'application/json',
        'User-Agent': 'weft/kube-subnet-mgr',
        ...(token ? { Authorization: `Bearer ${token}` } : {}),
        ...headers,
      },
    };
  }

  #send(): typeof https.request {
    return (this.#c.server.protocol === 'https:' ? https.request : http.request) as typeof https.request;
  }

  /** One request; resolves with any HTTP status, rejects only when the server is unreachable. */
  request(method: string, path: string, body?: { contentType: string; data: string }, timeoutMs = 15_000): Promise<KubeResponse> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = body
        ? { 'Content-Type': body.contentType, 'Content-Length': String(Buffer.byteLength(body.data)) }
        : {};
      const req = this.#send()(this.#options(method, path, headers), (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = text === '' ? undefined : (JSON.parse(text) as unknown);
          } catch {
            // not JSON: keep the text for the error line
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
        res.on('error', reject);
      });
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      req.on('error', (err) => reject(this.unreachable(method, path, err)));
      if (body) req.write(body.data);
      req.end();
    });
  }

  /** A request that must answer 2xx; anything else becomes one clear KubeApiError. */
  async call(method: string, path: string, need: Permission, body?: { contentType: string; data: string }): Promise<unknown> {
    const res = await this.request(method, path, body);
    if (res.status >= 200 && res.status < 300) return res.body;
    throw this.failure(method, path, need, res);
  }

  unreachable(method: string, path: string, err: Error): KubeApiError {
    return new KubeApiError(`Kubernetes API ${this.server} is unreachable (${method} ${path.split('?')[0]}): ${err.message}`, 0, undefined);
  }

  failure(method: string, path: string, need: Permission, res: KubeResponse): KubeApiError {
    const st = obj(res.body);
    const reason = typeof st.reason === 'string' ? st.reason : undefined;
    const msg = typeof st.message === 'string' ? st.message : typeof res.body === 'string' ? res.body.slice(0, 200) : '';
    const what = `${method} ${path.split('?')[0]}`;
    let line: string;
    if (res.status === 401)
      line = `Kubernetes API ${this.server} refused the credentials (401 Unauthorized) for ${what}: check the token or client certificate`;
    else if (res.status === 403) {
      line = `Kubernetes API ${this.server} forbids ${what} (403 Forbidden): the ClusterRole must grant verb "${need.verb}" on "${need.resource}"${msg ? ` (${msg})` : ''}`;
    } else line = `Kubernetes API ${this.server}: ${what} failed with ${res.status}${reason ? ` ${reason}` : ''}${msg ? `: ${msg}` : ''}`;
    return new KubeApiError(line, res.status, reason);
  }

  /**
   * A watch: GET `path` streaming newline-delimited JSON events to onEvent.
   * Resolves when the server ends the stream (normal: watch again), rejects
   * on a non-2xx answer or a broken connection. abort() ends it early.
   * `deadlineMs`: a stream still open that long after it started is cut
   * (rejects): a server that vanished without closing the connection must not
   * hold the watch forever; give the server's timeoutSeconds plus a margin.
   * `onOpen`: the server answered 2xx and the stream runs.
   */
  watch(
    path: string,
    need: Permission,
    onEvent: (event: { type: string; object: unknown }) => void,
    o: { deadlineMs?: number; onOpen?: () => void } = {},
  ): { done: Promise<void>; abort: () => void } {
    let abort = (): void => undefined;
    let timer: NodeJS.Timeout | undefined;
    const done = new Promise<void>((resolve, reject) => {
      const req = this.#send()(this.#options('GET', path, {}), (res) => {
        const status = res.statusCode ?? 0;
        if (status < 200 || status >= 300) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            let body: unknown = Buffer.concat(chunks).toString('utf8');
            try {
              body = JSON.parse(body as string) as unknown;
            } catch {
              // keep the text
            }
            reject(this.failure('GET', path, need, { status, body }));
          });
          return;
        }
        o.onOpen?.();
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buf += chunk;
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (line === '') continue;
            let ev: { type: string; object: unknown };
            try {
              ev = JSON.parse(line) as { type: string; object: unknown };
            } catch {
              req.destroy(new Error(`watch stream sent a line that is not JSON: ${line.slice(0, 120)}`));
              return;
            }
            onEvent(ev);
          }
        });
        res.on('end', () => resolve());
        res.on('error', (err) => reject(this.unreachable('GET', path, err)));
        res.on('aborted', () => reject(this.unreachable('GET', path, new Error('stream aborted'))));
      });
      req.on('error', (err) => reject(this.unreachable('GET', path, err)));
      req.end();
      if (o.deadlineMs !== undefined) {
        timer = setTimeout(
          () => req.destroy(new Error(`the watch stream was still open ${o.deadlineMs} ms after it started`)),
          o.deadlineMs,
        );
        timer.unref();
      }
      abort = () => {
        req.destroy();
        resolve();
      };
    });
    void done.then(
      () => clearTimeout(timer),
      () => clearTimeout(timer),
    );
    return { done, abort: () => abort() };
  }

  close(): void {
    this.#agent.destroy();
  }
}
