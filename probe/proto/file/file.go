package probe

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
)

// fileCheck is `test -e`: ready when the path exists (a file, a directory,
// a socket; a symbolic link counts when its target exists). A missing path
// is not_ready: a volume not mounted yet, a file another container has not
// written yet. Any other error (permission denied) is unexpected. It is the
// protocol step of a scheme without a network: conn is nil.
func fileCheck(ctx context.Context, _ net.Conn, t *Target) error {
	_, err := os.Stat(t.path)
	if err == nil {
		return nil
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err // the path is in the result already
	}
	if errors.Is(err, fs.ErrNotExist) {
		return failHint(NotReady, fmt.Sprintf("%s does not exist (yet): is the volume mounted, and has whatever writes it run?", t.path), err)
	}
	return err
}
