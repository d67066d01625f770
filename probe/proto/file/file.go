// Package file is the check of file:// targets: the path exists, as
// `test -e` says. It has no connection.
//
// It imports only probe/proto (and the standard library): it knows
// nothing of targets, retries or logs.
package file

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/depprobe/depprobe/probe/proto"
)

// Check is `test -e`: ready when the path exists (a file, a directory,
// a socket; a symbolic link counts when its target exists). A missing path
// is not_ready: a volume not mounted yet, a file another container has not
// written yet. Any other error (permission denied) is unexpected. It is the
// protocol step of a scheme without a network: there is no connection, and
// in.Path is the cleaned absolute path.
func Check(_ context.Context, in proto.Input) error {
	_, err := os.Stat(in.Path)
	if err == nil {
		return nil
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err // the path is in the result already
	}
	if errors.Is(err, fs.ErrNotExist) {
		return proto.FailHint(proto.NotReady, fmt.Sprintf("%s does not exist (yet): is the volume mounted, and has whatever writes it run?", in.Path), err)
	}
	return err
}
