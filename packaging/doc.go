// Package packaging holds no code of its own: its tests check what ships around the
// depprobe binary (the Dockerfile, the Helm chart, the compose and Kubernetes examples)
// with the same parsers and validators that Docker, Helm, compose and the kube-apiserver use.
//
// It is a module of its own so that k8s.io/kubernetes, helm and buildkit never enter the
// product's go.mod.
package packaging
