// Package cluster brings up a real single-node Kubernetes cluster inside a sandbox: etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler, containerd with runc and the
// CNI bridge, the kubelet, kube-proxy (nftables) and CoreDNS as a Deployment behind the
// kube-dns Service. Authorization is Node,RBAC; admission has ServiceAccount and
// PodSecurity (the defaults), so namespaces made by Namespace enforce the restricted
// Pod Security Standard for real.
//
// The daemons are Debian's (etcd, containerd, runc, CNI plugins) and kubernetes' own,
// built by e2e/components/build.sh. Images come from a docker archive imported into
// containerd; nothing is pulled. Everything listens inside the sandbox's network
// namespace; the test reaches the API through Sandbox.Dial.
package cluster

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/depprobe/depprobe/e2e/sandbox"
)

// Addresses inside the node's network namespace.
const (
	NodeCIDR    = "192.168.250.1/30" // the node's address (veth), default route via .2
	PodCIDR     = "10.244.0.0/24"
	ServiceCIDR = "10.96.0.0/24"
	APIService  = "10.96.0.1"  // the kubernetes Service
	DNSService  = "10.96.0.10" // kube-dns
	NodeName    = "e2e-node"
)

// Config says where the cluster lives and what it runs.
type Config struct {
	Name     string // sandbox name (network namespace, cgroup): unique per run
	Dir      string // state folder
	Ledger   string // cleanup ledger (sandbox.Record)
	KubeBin  string // folder with kube-apiserver, kubelet, ... (components/build.sh kube)
	Images   string // docker archive imported into containerd before the kubelet starts
	CoreDNS  string // CoreDNS image (in Images)
	PauseTag string // the sandbox (pause) image (in Images)
}

// Cluster is a running single-node cluster.
type Cluster struct {
	Box        *sandbox.Sandbox
	Client     *kubernetes.Clientset
	REST       *rest.Config
	Kubeconfig string // admin kubeconfig, for kubectl and helm run with Command
	cfg        Config
	pki        *pki
	daemons    map[string]*sandbox.Daemon
}

// Start brings the cluster up and returns once the node is Ready and CoreDNS answers
// (its Deployment is available). On error, everything started is stopped again.
func Start(ctx context.Context, cfg Config) (_ *Cluster, err error) {
	c := &Cluster{cfg: cfg, daemons: map[string]*sandbox.Daemon{}}
	dir := cfg.Dir
	for _, d := range []string{"varlog", "sysctl", "cni", "ipam", "kubelet", "etcd"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	mounts := []sandbox.Mount{
		// containerd keeps shim sockets in /run/containerd/s and pod network namespaces in
		// /run/netns, the kubelet writes /var/log/pods and /var/log/containers: all in this
		// namespace's own tmpfs and folders.
		{Source: "tmpfs", Target: "/run"},
		{Source: filepath.Join(dir, "varlog"), Target: "/var/log"},
	}
	// The kubelet sets these machine-wide sysctls, and with protectKernelDefaults refuses to
	// start instead. The machine's settings are not ours to change: the kubelet sees
	// read-only files that already hold the values it wants.
	for path, want := range map[string]string{
		"vm/overcommit_memory": "1", "vm/panic_on_oom": "0", "kernel/panic": "10",
		"kernel/panic_on_oops": "1", "kernel/keys/root_maxkeys": "1000000", "kernel/keys/root_maxbytes": "25000000",
	} {
		b, err := os.ReadFile("/proc/sys/" + path)
		if err == nil && strings.TrimSpace(string(b)) == want {
			continue
		}
		f := filepath.Join(dir, "sysctl", strings.ReplaceAll(path, "/", "."))
		if err := os.WriteFile(f, []byte(want+"\n"), 0o444); err != nil {
			return nil, err
		}
		mounts = append(mounts, sandbox.Mount{Source: f, Target: "/proc/sys/" + path, ReadOnly: true})
	}
	c.Box, err = sandbox.New(ctx, cfg.Name, dir, cfg.Ledger, NodeCIDR, mounts)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	node := c.Box.Addr

	if c.pki, err = newPKI(filepath.Join(dir, "pki")); err != nil {
		return nil, err
	}
	nodeIP := net.ParseIP(node)
	certs := []struct {
		name, cn string
		orgs     []string
		dns      []string
		ips      []net.IP
	}{
		{"apiserver", "kube-apiserver", nil, []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "localhost"}, []net.IP{nodeIP, net.ParseIP(APIService), net.ParseIP("127.0.0.1")}},
		{"admin", "e2e-admin", []string{"system:masters"}, nil, nil},
		{"apiserver-kubelet-client", "kube-apiserver-kubelet-client", []string{"system:masters"}, nil, nil},
		{"controller-manager", "system:kube-controller-manager", nil, nil, nil},
		{"scheduler", "system:kube-scheduler", nil, nil, nil},
		{"kubelet", "system:node:" + NodeName, []string{"system:nodes"}, []string{NodeName}, []net.IP{nodeIP}},
		{"kube-proxy", "system:kube-proxy", nil, nil, nil},
	}
	for _, ct := range certs {
		if err := c.pki.issue(ct.name, ct.cn, ct.orgs, ct.dns, ct.ips); err != nil {
			return nil, err
		}
	}
	if err := c.pki.serviceAccountKey(); err != nil {
		return nil, err
	}
	server := "https://" + node + ":6443"
	for _, who := range []string{"admin", "controller-manager", "scheduler", "kubelet", "kube-proxy"} {
		if err := c.writeKubeconfig(who, server); err != nil {
			return nil, err
		}
	}
	c.Kubeconfig = filepath.Join(dir, "admin.kubeconfig")
	p := c.pki.path
	bin := func(name string) string { return filepath.Join(cfg.KubeBin, name) }

	if err := c.start("etcd", "etcd", "--name", "e2e", "--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", "http://127.0.0.1:2379", "--advertise-client-urls", "http://127.0.0.1:2379",
		"--listen-peer-urls", "http://127.0.0.1:2380", "--initial-advertise-peer-urls", "http://127.0.0.1:2380",
		"--initial-cluster", "e2e=http://127.0.0.1:2380", "--log-level", "warn"); err != nil {
		return nil, err
	}
	if err := c.start("kube-apiserver", bin("kube-apiserver"),
		"--etcd-servers", "http://127.0.0.1:2379",
		"--advertise-address", node, "--bind-address", node, "--secure-port", "6443",
		"--tls-cert-file", p("apiserver.crt"), "--tls-private-key-file", p("apiserver.key"),
		"--client-ca-file", p("ca.crt"),
		// The node's address, never its name: a name would go to a resolver.
		"--kubelet-preferred-address-types", "InternalIP",
		"--kubelet-client-certificate", p("apiserver-kubelet-client.crt"), "--kubelet-client-key", p("apiserver-kubelet-client.key"),
		"--service-cluster-ip-range", ServiceCIDR,
		"--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file", p("sa.pub"), "--service-account-signing-key-file", p("sa.key"),
		"--authorization-mode", "Node,RBAC",
		"--enable-admission-plugins", "NodeRestriction",
		"--profiling=false", "--v=1"); err != nil {
		return nil, err
	}

	c.REST = &rest.Config{
		Host: server,
		TLSClientConfig: rest.TLSClientConfig{
			CAData: c.pki.read("ca.crt"), CertData: c.pki.read("admin.crt"), KeyData: c.pki.read("admin.key"),
		},
		Dial:  c.Box.Dial,
		QPS:   50,
		Burst: 100,
	}
	if c.Client, err = kubernetes.NewForConfig(c.REST); err != nil {
		return nil, err
	}
	if err := c.wait(ctx, "the apiserver is ready", 90*time.Second, func() (bool, error) {
		b, err := c.Client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err == nil && string(b) == "ok", err
	}); err != nil {
		return nil, err
	}

	if err := c.start("kube-controller-manager", bin("kube-controller-manager"),
		"--kubeconfig", filepath.Join(dir, "controller-manager.kubeconfig"),
		"--authentication-kubeconfig", filepath.Join(dir, "controller-manager.kubeconfig"),
		"--authorization-kubeconfig", filepath.Join(dir, "controller-manager.kubeconfig"),
		"--bind-address", "127.0.0.1",
		"--service-account-private-key-file", p("sa.key"), "--root-ca-file", p("ca.crt"),
		"--use-service-account-credentials=true",
		"--cluster-cidr", "10.244.0.0/16", "--allocate-node-cidrs=true", "--node-cidr-mask-size", "24",
		"--service-cluster-ip-range", ServiceCIDR,
		"--leader-elect=false", "--v=1"); err != nil {
		return nil, err
	}
	if err := c.start("kube-scheduler", bin("kube-scheduler"),
		"--kubeconfig", filepath.Join(dir, "scheduler.kubeconfig"),
		"--authentication-kubeconfig", filepath.Join(dir, "scheduler.kubeconfig"),
		"--authorization-kubeconfig", filepath.Join(dir, "scheduler.kubeconfig"),
		"--bind-address", "127.0.0.1", "--leader-elect=false", "--v=1"); err != nil {
		return nil, err
	}

	// containerd's CRI: cgroupfs, overlayfs, Debian's CNI plugins, and no attempt to lower
	// oom_score_adj (that needs CAP_SYS_RESOURCE, which this machine does not give).
	sock := filepath.Join(dir, "containerd.sock")
	conf := fmt.Sprintf(`version = 2
root = %q
state = %q
[grpc]
  address = %q
[plugins."io.containerd.internal.v1.opt"]
  path = %q
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %q
`, filepath.Join(dir, "containerd", "root"), filepath.Join(dir, "containerd", "state"), sock,
		filepath.Join(dir, "containerd", "opt"), cfg.PauseTag, filepath.Join(dir, "cni"))
	if err := os.WriteFile(filepath.Join(dir, "containerd.toml"), []byte(conf), 0o644); err != nil {
		return nil, err
	}
	cni := fmt.Sprintf(`{"cniVersion": "1.0.0", "name": "e2e", "plugins": [
  {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": %q}]], "routes": [{"dst": "0.0.0.0/0"}], "dataDir": %q}}
]}`, PodCIDR, filepath.Join(dir, "ipam"))
	if err := os.WriteFile(filepath.Join(dir, "cni", "10-e2e.conflist"), []byte(cni), 0o644); err != nil {
		return nil, err
	}
	if err := c.start("containerd", "containerd", "--config", filepath.Join(dir, "containerd.toml"), "--log-level", "warn"); err != nil {
		return nil, err
	}
	if err := c.wait(ctx, "containerd answers", 30*time.Second, func() (bool, error) {
		return true, c.Box.Exec(ctx, "ctr", "--address", sock, "version")
	}); err != nil {
		return nil, err
	}
	if cfg.Images != "" {
		if err := c.Box.Exec(ctx, "ctr", "--address", sock, "-n", "k8s.io", "images", "import", cfg.Images); err != nil {
			return nil, err
		}
	}

	kubelet := fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: %q}
authorization: {mode: AlwaysAllow}
cgroupDriver: cgroupfs
cgroupRoot: %q
failCgroupV1: false
failSwapOn: false
protectKernelDefaults: false
containerRuntimeEndpoint: unix://%s
clusterDNS: [%s]
clusterDomain: cluster.local
resolvConf: ""
address: %s
healthzBindAddress: 127.0.0.1
readOnlyPort: 0
podLogsDir: /var/log/pods
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: 1%%, imagefs.available: 1%%, nodefs.inodesFree: 1%%}
serializeImagePulls: false
`, p("ca.crt"), c.Box.Cgroup, sock, DNSService, node)
	if err := os.WriteFile(filepath.Join(dir, "kubelet.yaml"), []byte(kubelet), 0o644); err != nil {
		return nil, err
	}
	if err := c.start("kubelet", bin("kubelet"),
		"--config", filepath.Join(dir, "kubelet.yaml"),
		"--kubeconfig", filepath.Join(dir, "kubelet.kubeconfig"),
		"--hostname-override", NodeName, "--node-ip", node,
		"--root-dir", filepath.Join(dir, "kubelet"), "--cert-dir", filepath.Join(dir, "kubelet", "pki"),
		"--v=1"); err != nil {
		return nil, err
	}

	proxy := fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: %q}
mode: nftables
hostnameOverride: %s
clusterCIDR: 10.244.0.0/16
bindAddress: %s
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
# 0: leave the conntrack table's size and timeouts alone; they are the machine's.
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
`, filepath.Join(dir, "kube-proxy.kubeconfig"), NodeName, node)
	if err := os.WriteFile(filepath.Join(dir, "kube-proxy.yaml"), []byte(proxy), 0o644); err != nil {
		return nil, err
	}
	if err := c.start("kube-proxy", bin("kube-proxy"), "--config", filepath.Join(dir, "kube-proxy.yaml"), "--v=1"); err != nil {
		return nil, err
	}

	if err := c.wait(ctx, "the node is Ready", 90*time.Second, func() (bool, error) {
		n, err := c.Client.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				return cond.Status == corev1.ConditionTrue, fmt.Errorf("node Ready=%s: %s", cond.Status, cond.Message)
			}
		}
		return false, nil
	}); err != nil {
		return nil, err
	}
	if err := c.deployCoreDNS(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// start starts a daemon and fails if it exits within its first moments.
func (c *Cluster) start(name, bin string, args ...string) error {
	d, err := c.Box.Start(name, nil, append([]string{bin}, args...)...)
	if err != nil {
		return err
	}
	c.daemons[name] = d
	return nil
}

// wait polls cond (see sandbox.WaitFor) and also fails at once, with its log, when a
// daemon has exited.
func (c *Cluster) wait(ctx context.Context, what string, timeout time.Duration, cond func() (bool, error)) error {
	return sandbox.WaitFor(ctx, what, timeout, 200*time.Millisecond, func() (bool, error) {
		for name, d := range c.daemons {
			select {
			case <-d.Exited():
				return false, fmt.Errorf("%s exited:\n%s", name, d.Tail(30))
			default:
			}
		}
		return cond()
	})
}

// Log is the tail of a daemon's log (etcd, kube-apiserver, kubelet, containerd, ...).
func (c *Cluster) Log(daemon string, n int) string {
	if d, ok := c.daemons[daemon]; ok {
		return d.Tail(n)
	}
	return "no daemon " + daemon
}

func (c *Cluster) writeKubeconfig(who, server string) error {
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster: {server: %q, certificate-authority: %q}
users:
- name: %s
  user: {client-certificate: %q, client-key: %q}
contexts:
- name: e2e
  context: {cluster: e2e, user: %s}
current-context: e2e
`, server, c.pki.path("ca.crt"), who, c.pki.path(who+".crt"), c.pki.path(who+".key"), who)
	return os.WriteFile(filepath.Join(c.cfg.Dir, who+".kubeconfig"), []byte(kc), 0o600)
}

// Command returns a command (kubectl, helm, ...) run inside the node's namespaces with the
// admin kubeconfig, and HOME and helm's folders in the cluster's folder.
func (c *Cluster) Command(ctx context.Context, argv ...string) *exec.Cmd {
	cmd := c.Box.Command(ctx, argv...)
	home := filepath.Join(c.cfg.Dir, "home")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+c.Kubeconfig, "HOME="+home,
		"HELM_CACHE_HOME="+filepath.Join(home, "helm-cache"), "HELM_CONFIG_HOME="+filepath.Join(home, "helm-config"),
		"HELM_DATA_HOME="+filepath.Join(home, "helm-data"))
	return cmd
}

// Kubectl runs this cluster's kubectl and returns its combined output.
func (c *Cluster) Kubectl(ctx context.Context, args ...string) (string, error) {
	out, err := c.Command(ctx, append([]string{filepath.Join(c.cfg.KubeBin, "kubectl")}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// deployCoreDNS runs CoreDNS the way clusters do: a Deployment in kube-system with its own
// ServiceAccount and RBAC, behind the kube-dns Service at DNSService. It answers for
// cluster.local only: it forwards nothing, so no name ever reaches the machine's resolver.
func (c *Cluster) deployCoreDNS(ctx context.Context) error {
	cs := c.Client
	ns := "kube-system"
	labels := map[string]string{"k8s-app": "kube-dns"}
	objs := []func() error{
		func() error {
			_, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "coredns"}}, metav1.CreateOptions{})
			return err
		},
		func() error {
			_, err := cs.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
				ObjectMeta: metav1.ObjectMeta{Name: "system:coredns"},
				Rules: []rbacv1.PolicyRule{
					{APIGroups: []string{""}, Resources: []string{"endpoints", "services", "pods", "namespaces"}, Verbs: []string{"list", "watch"}},
					{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"list", "watch"}},
				},
			}, metav1.CreateOptions{})
			return err
		},
		func() error {
			_, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
				ObjectMeta: metav1.ObjectMeta{Name: "system:coredns"},
				RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "system:coredns"},
				Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "coredns", Namespace: ns}},
			}, metav1.CreateOptions{})
			return err
		},
		func() error {
			_, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
				ObjectMeta: metav1.ObjectMeta{Name: "coredns"},
				Data: map[string]string{"Corefile": `.:53 {
    errors
    health :8080
    ready :8181
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 5
}
`},
			}, metav1.CreateOptions{})
			return err
		},
		func() error {
			one := int32(1)
			_, err := cs.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
				ObjectMeta: metav1.ObjectMeta{Name: "coredns", Labels: labels},
				Spec: appsv1.DeploymentSpec{
					Replicas: &one,
					Selector: &metav1.LabelSelector{MatchLabels: labels},
					Template: corev1.PodTemplateSpec{
						ObjectMeta: metav1.ObjectMeta{Labels: labels},
						Spec: corev1.PodSpec{
							ServiceAccountName: "coredns",
							DNSPolicy:          corev1.DNSDefault,
							Containers: []corev1.Container{{
								Name:            "coredns",
								Image:           c.cfg.CoreDNS,
								ImagePullPolicy: corev1.PullNever,
								Args:            []string{"-conf", "/etc/coredns/Corefile"},
								Ports: []corev1.ContainerPort{
									{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP},
									{Name: "dns-tcp", ContainerPort: 53, Protocol: corev1.ProtocolTCP},
								},
								VolumeMounts: []corev1.VolumeMount{{Name: "config", MountPath: "/etc/coredns"}},
								ReadinessProbe: &corev1.Probe{
									ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromInt32(8181)}},
									PeriodSeconds: 1,
								},
							}},
							Volumes: []corev1.Volume{{Name: "config", VolumeSource: corev1.VolumeSource{
								ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "coredns"}},
							}}},
						},
					},
				},
			}, metav1.CreateOptions{})
			return err
		},
		func() error {
			_, err := cs.CoreV1().Services(ns).Create(ctx, &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Name: "kube-dns", Labels: labels},
				Spec: corev1.ServiceSpec{
					ClusterIP: DNSService,
					Selector:  labels,
					Ports: []corev1.ServicePort{
						{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromInt32(53)},
						{Name: "dns-tcp", Port: 53, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(53)},
					},
				},
			}, metav1.CreateOptions{})
			return err
		},
	}
	// The ServiceAccount admission plugin refuses pods until the namespace's ServiceAccount
	// exists; the first create can also race RBAC's bootstrap. Retry each a few times.
	for _, create := range objs {
		if err := c.wait(ctx, "create a CoreDNS object", 30*time.Second, func() (bool, error) {
			err := create()
			return err == nil || apierrors.IsAlreadyExists(err), err
		}); err != nil {
			return err
		}
	}
	return c.wait(ctx, "CoreDNS is available", 120*time.Second, func() (bool, error) {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, "coredns", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if d.Status.AvailableReplicas < 1 {
			return false, fmt.Errorf("coredns: %d available; kubelet: %s", d.Status.AvailableReplicas, c.Log("kubelet", 5))
		}
		return true, nil
	})
}

// Close stops the cluster: pods go with their containerd shims when the sandbox kills
// what is left in its cgroups; mounts go with its mount namespace.
func (c *Cluster) Close() error {
	if c.Box == nil {
		return nil
	}
	return c.Box.Close()
}
