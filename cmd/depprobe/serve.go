package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/depprobe/depprobe/probe"
)

// serve is being built (issue: depprobe serve).
func serve(ctx context.Context, c config, targets []*probe.Target, log *slog.Logger) error {
	return usageError{errors.New("serve is not built yet")}
}
