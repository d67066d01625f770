// Package probe checks whether a dependency answers and says why it does
// not: it parses targets (`[NAME=]URL [OPTION=VALUE ...]`), climbs the
// diagnosis ladder once per attempt (resolve → connect → tls → protocol) and
// returns a typed Result (step, outcome, addresses, per-step durations, the
// wrapped cause, a hint), and retries in one loop under two policies: Wait
// (give up on a fatal outcome, too many timeouts or ctx) and Watch (never
// give up; slow down instead).
//
// It owns the scheme table (the one source of help and the docs' scheme
// summary), targets, results and the retry loop. The protocol checks live
// below it, in probe/proto (what they share) and one package per protocol
// family; they get a proto.Input, never a Target.
//
// It must not know about environment variables, exit codes, HTTP serving,
// metrics or signals: cmd/depprobe and readiness own those, and name the
// variables in messages (probe's errors name none).
package probe
