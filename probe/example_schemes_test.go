package probe_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/depprobe/depprobe/probe"
)

// A file:// target is ready once the path exists: here it does not, yet.
func Example_file() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	specs, _ := probe.ParseSpecs("example", "marker=file://"+filepath.Join(dir, "migrated"))
	t, err := probe.New(specs[0])
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	r := t.Probe(ctx)
	fmt.Println(r.Target, r.Summary())

	os.WriteFile(filepath.Join(dir, "migrated"), nil, 0o600)
	r = t.Probe(ctx)
	fmt.Println(r.Target, r.Summary())
	// Output:
	// marker protocol not_ready
	// marker ok
}

// Protocol targets take the dependency's own URL; passwords in it are used
// for the protocol's login where the scheme checks credentials, and never
// shown: URL() masks them (and a lone user name, which may be a token).
func Example_protocols() {
	specs, err := probe.ParseSpecs("DEPPROBE_TARGETS", `
db=postgres://app@db:5432/app
cache=redis://:s3cret@cache:6379
queue=amqp://guest:guest@rabbitmq:5672/
events=nats://nats:4222
api=grpc://api:50051 service=orders.v1.Orders
`)
	if err != nil {
		fmt.Println(err)
		return
	}
	targets, err := probe.Targets(specs)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, t := range targets {
		fmt.Println(t.Name, t.URL())
	}
	// Output:
	// db postgres://xxxxx@db:5432/app
	// cache redis://:xxxxx@cache:6379
	// queue amqp://guest:xxxxx@rabbitmq:5672/
	// events nats://nats:4222
	// api grpc://api:50051
}
