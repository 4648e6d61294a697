// flanneld's Kubernetes-mode defaults, in a module of their own so that the
// CLI can name them without loading the Kubernetes client.

export const DEFAULT_ANNOTATION_PREFIX = 'flannel.alpha.coreos.com';
export const DEFAULT_NET_CONF_PATH = '/etc/kube-flannel/net-conf.json';
