// Package faults is depprobe's fault suite: it proves, against the real
// kernel, that the log names the right cause and that wait's refused and
// timeout policy holds.
//
// The tests build the real depprobe binary, make their own hosts with
// network namespaces, veth pairs and nftables rules (ip netns add, from
// iproute2; nft, from nftables), run depprobe in a client namespace with
// `ip netns exec`, and read its JSON log. Every address they use lives in a
// namespace they created (10.253.N.0/30); nothing is routed elsewhere, and
// each client namespace gets its own resolv.conf, so the machine's resolver
// is never asked.
//
// They need root, ip and nft. Without them the tests skip with the reason,
// except when CI=true, where a missing prerequisite is a failure. Run with
// -update to rewrite table.md ("fault → what depprobe logs", which
// docs/diagnosis.md includes) from what this run observed.
//
// The package holds only tests: nothing imports it, and it knows nothing of
// depprobe's internals beyond its command line, its variables and its log.
package faults
