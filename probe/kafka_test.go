package probe_test

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/depprobe/depprobe/internal/loopback"
	"github.com/depprobe/depprobe/probe"
)

// kafkaCluster runs franz-go's kfake, a Kafka cluster in this process that
// speaks Kafka's wire protocol, on free loopback ports, closed at the end
// of the test.
func kafkaCluster(t *testing.T, opts ...kfake.Opt) (*kfake.Cluster, []string) {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.ListenFn(func(network, _ string) (net.Listener, error) {
		return net.Listen(network, "127.0.0.1:0")
	})}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, c.ListenAddrs()
}

// createTopic creates a topic as an application's init job would, with a
// Kafka client (franz-go's).
func createTopic(t *testing.T, addr, name string, partitions int32) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrCreateTopicsRequest()
	tp := kmsg.NewCreateTopicsRequestTopic()
	tp.Topic, tp.NumPartitions, tp.ReplicationFactor = name, partitions, 1
	req.Topics = append(req.Topics, tp)
	resp, err := req.RequestWith(t.Context(), cl)
	if err != nil || len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("CreateTopics %s: %+v, %v", name, resp, err)
	}
}

func TestKafka(t *testing.T) {
	c, addrs := kafkaCluster(t, kfake.NumBrokers(3), kfake.SeedTopics(3, "events"))
	addr := addrs[0]

	t.Run("ready", func(t *testing.T) {
		for _, url := range []string{"kafka://" + addr, "kafka://" + addr + " topic=events"} {
			checkResult(t, attempt(t, target(t, url), 2*time.Second), probe.Protocol, probe.OK)
		}
	})
	t.Run("topic created later", func(t *testing.T) {
		tg := target(t, "kafka://"+addr+" topic=orders")
		r := attempt(t, tg, 2*time.Second)
		checkResult(t, r, probe.Protocol, probe.NotReady)
		checkText(t, r, `topic "orders" does not exist`, "is it created")
		createTopic(t, addr, "orders", 4)
		waitReady(t, tg)
	})
	t.Run("bootstrap list", func(t *testing.T) {
		down := loopback.Refused(t)
		r := attempt(t, target(t, "kafka://"+down+","+addrs[1]+","+addrs[2]+" topic=events"), 2*time.Second)
		checkResult(t, r, probe.Protocol, probe.OK)
		if r.Addr != addrs[1] && r.Addr != addrs[2] {
			t.Errorf("Addr = %s, want a broker that answers (%s or %s)", r.Addr, addrs[1], addrs[2])
		}
		// (The refused host's steps are there when it failed before a
		// broker answered, which is a race: the all-down case below
		// reports every host.)

		down2 := loopback.Refused(t)
		r = attempt(t, target(t, "kafka://"+down+","+down2), 2*time.Second)
		checkResult(t, r, probe.Connect, probe.Refused)
		checkText(t, r, "no host of the 2 is ready", down2, down)
		var dialed []string
		for _, s := range r.Steps {
			if s.Step == probe.Connect {
				dialed = append(dialed, s.Addr+" "+string(s.Outcome))
			}
		}
		if got := strings.Join(dialed, ","); !strings.Contains(got, down+" refused") || !strings.Contains(got, down2+" refused") {
			t.Errorf("connect steps %q do not report both hosts", dialed)
		}
	})
	t.Run("no controller", func(t *testing.T) {
		// A broker that knows of no controller (a KRaft quorum electing
		// one): kfake answers Metadata as the test says, once.
		c.ControlKey(int16(kmsg.Metadata), func(req kmsg.Request) (kmsg.Response, error, bool) {
			resp := req.ResponseKind().(*kmsg.MetadataResponse)
			resp.Version = req.GetVersion()
			resp.ControllerID = -1
			return resp, nil, true
		})
		r := attempt(t, target(t, "kafka://"+addr), 2*time.Second)
		checkResult(t, r, probe.Protocol, probe.NotReady)
		checkText(t, r, "no controller", "electing")
	})
	t.Run("partition without a leader", func(t *testing.T) {
		c.ControlKey(int16(kmsg.Metadata), func(req kmsg.Request) (kmsg.Response, error, bool) {
			resp := req.ResponseKind().(*kmsg.MetadataResponse)
			resp.Version = req.GetVersion()
			resp.ControllerID = 0
			tp := kmsg.NewMetadataResponseTopic()
			tp.Topic = kmsg.StringPtr("events")
			for i := range int32(3) {
				p := kmsg.NewMetadataResponseTopicPartition()
				p.Partition, p.Leader = i, 0
				if i == 1 {
					p.Leader, p.ErrorCode = -1, 5 // LEADER_NOT_AVAILABLE
				}
				tp.Partitions = append(tp.Partitions, p)
			}
			resp.Topics = append(resp.Topics, tp)
			return resp, nil, true
		})
		r := attempt(t, target(t, "kafka://"+addr+" topic=events"), 2*time.Second)
		checkResult(t, r, probe.Protocol, probe.NotReady)
		checkText(t, r, "1 of 3 partitions have no leader (1)")
	})
}

func TestKafkaSASL(t *testing.T) {
	c, addrs := kafkaCluster(t, kfake.EnableSASL(), kfake.Superuser("PLAIN", "app", "hunter2"))
	addr := addrs[0]
	checkResult(t, attempt(t, target(t, "kafka://app:hunter2@"+addr), 2*time.Second), probe.Protocol, probe.OK)
	// kfake closes the connection on a refused login, as brokers before
	// 1.0 do.
	r := attempt(t, target(t, "kafka://app:wrong@"+addr), 2*time.Second)
	checkResult(t, r, probe.Protocol, probe.AuthFailed)
	checkText(t, r, "closed the connection in answer to the SASL PLAIN login")
	// Kafka since 1.0 answers SASL_AUTHENTICATION_FAILED (58) first: kfake
	// answers so once, as the test says.
	c.ControlKey(int16(kmsg.SASLAuthenticate), func(req kmsg.Request) (kmsg.Response, error, bool) {
		resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
		resp.Version = req.GetVersion()
		resp.ErrorCode = 58
		resp.ErrorMessage = kmsg.StringPtr("Authentication failed: Invalid username or password")
		return resp, nil, true
	})
	r = attempt(t, target(t, "kafka://app:wrong@"+addr), 2*time.Second)
	checkResult(t, r, probe.Protocol, probe.AuthFailed)
	checkText(t, r, "Invalid username or password")
	// Without a user, a SASL listener answers ApiVersions and closes the
	// connection at Metadata.
	r = attempt(t, target(t, "kafka://"+addr), 2*time.Second)
	checkResult(t, r, probe.Protocol, probe.Closed)
	checkText(t, r, "a SASL listener?")
}

func TestKafkaNotABroker(t *testing.T) {
	ln := loopback.Listen(t)
	loopback.Serve(t, ln, func(c net.Conn) {
		c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
		c.Close()
	})
	r := attempt(t, target(t, "kafka://"+ln.Addr().String()), 2*time.Second)
	checkResult(t, r, probe.Protocol, probe.Unexpected)
	checkText(t, r, "not a Kafka broker")
}
