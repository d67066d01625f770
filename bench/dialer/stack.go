//go:build stack

package main

// Built with -tags stack, the dialer also links what depprobe cannot do
// without: crypto/tls (every TLS scheme) and net/http (the http scheme,
// the Kubernetes client and serve). Their package initialization and the
// pages a larger binary touches at start are the floor of depprobe's
// start-up; the bench measures it beside the bare dialer.
import (
	_ "crypto/tls"
	_ "net/http"
)
