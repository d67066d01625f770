package mysql

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/depprobe/depprobe/probe/proto"
)

// loginError maps an ERR packet in place of the login verdict when the
// login must succeed (role=, query=): a denial is auth_failed, a database
// that does not exist yet not_ready, the rest as mysqlError says or
// unexpected.
func loginError(in proto.Input, p []byte) error {
	if err := mysqlError(in, p, true, true); err != nil || len(p) < 3 {
		return err
	}
	code := binary.LittleEndian.Uint16(p[1:])
	err := fmt.Errorf("server says %q (error %d)", serverMessage(in, p), code)
	switch code {
	case mysqlBadDB:
		return proto.FailHint(proto.NotReady,
			fmt.Sprintf("the database of the URL's path does not exist on %s (yet): is it created by a job that has not run, or is the name wrong?", in.Addr), err)
	case mysqlDBAccessDenied:
		return proto.FailHint(proto.Unexpected,
			fmt.Sprintf("the URL's user may not use the URL's database on %s: GRANT it, or use another user", in.Addr), err)
	}
	return proto.Fail(proto.Unexpected, err)
}

// ask runs what role= and query= want on a logged-in session:
// SELECT @@global.read_only for role=primary (0: the server takes
// writes), then query=, which must return a row.
func ask(conn net.Conn, in proto.Input, opts Options) error {
	if opts.Primary {
		// Read to the result set's end: query= may follow on this session.
		v, err := query(conn, in, "SELECT @@global.read_only", true)
		if err != nil {
			return err
		}
		switch v {
		case "0":
		case "1":
			return proto.FailHint(proto.NotReady,
				fmt.Sprintf("the server on %s is read-only (a replica, or a primary not promoted yet), and role=primary wants one that takes writes: wait for the promotion, or point the target at the primary", in.Addr),
				errors.New("@@global.read_only = 1, want 0"))
		default:
			return proto.Failf(proto.Unexpected, "@@global.read_only answered %s, want 0 or 1", proto.Found([]byte(v)))
		}
	}
	if opts.Query != "" {
		if _, err := query(conn, in, opts.Query, false); err != nil {
			return err
		}
	}
	return nil
}

// query sends COM_QUERY and returns the first column of the first row
// (see result).
func query(conn net.Conn, in proto.Input, sql string, drain bool) (string, error) {
	if err := mysqlWrite(conn, 0, append([]byte{0x03}, sql...)); err != nil { // COM_QUERY
		return "", err
	}
	return result(conn, in, drain)
}

// maxResultPackets bounds the packets of a result set the probe reads:
// the column definitions and, with drain, the rows. A table has at most
// 4096 columns; the probe's own queries return one row of one.
const maxResultPackets = 4096 + 16

// result reads a query's answer and returns the first column of the
// first row. With drain it reads on to the result set's final EOF, so
// that another query can follow on the session; without, it stops at the
// first row. No row (an OK packet, or a result set that ends before a
// row) is not_ready. The rows are shown nowhere (but read_only's 0 or 1).
func result(r io.Reader, in proto.Input, drain bool) (string, error) {
	_, p, err := mysqlRead(r)
	switch {
	case err != nil:
		return "", err
	case len(p) == 0:
		return "", proto.Failf(proto.Unexpected, "an empty packet after a query")
	case p[0] == 0xff:
		return "", queryError(in, p)
	case p[0] == 0x00:
		return "", proto.NoRow(in) // OK: a statement without a result set
	}
	// A result set: the column count, the column definitions, an EOF
	// packet (CLIENT_DEPRECATE_EOF is not asked for), then the rows and
	// an EOF.
	if columns, _ := lenenc(p); columns == 0 {
		return "", proto.Failf(proto.Unexpected, "a malformed result set header")
	}
	var (
		eofs  int
		row   bool // the first row was read
		first string
	)
	for range maxResultPackets {
		_, p, err := mysqlRead(r)
		switch {
		case err != nil:
			return "", err
		case len(p) > 0 && p[0] == 0xff:
			return "", queryError(in, p)
		case len(p) > 0 && p[0] == 0xfe && len(p) < 9: // EOF
			eofs++
			if eofs < 2 {
				continue
			}
			if !row {
				return "", proto.NoRow(in)
			}
			return first, nil
		case eofs == 1 && !row: // the first row: its first column, a length-encoded string
			n, size := lenenc(p)
			if size > 0 && p[0] != 0xfb && uint64(len(p)-size) >= n { // not NULL, not malformed
				first = string(p[size : size+int(n)])
			}
			row = true
			if !drain {
				return first, nil
			}
		}
	}
	return "", proto.Failf(proto.Unexpected, "a result set without its end after %d packets", maxResultPackets)
}

// queryError maps an ERR packet after a query: a table or column that
// does not exist yet and what waiting ends (a lock, a deadlock, too many
// connections) are not_ready; a syntax error, a permission denied and the
// rest unexpected.
func queryError(in proto.Input, p []byte) error {
	if len(p) < 3 {
		return proto.Failf(proto.Unexpected, "a malformed MySQL error packet")
	}
	code := binary.LittleEndian.Uint16(p[1:])
	err := fmt.Errorf("the query failed: server says %q (error %d)", serverMessage(in, p), code)
	switch code {
	case mysqlNoSuchTable, mysqlBadField, mysqlBadDB:
		return proto.FailHint(proto.NotReady,
			fmt.Sprintf("the query= of %s names a database, table or column that does not exist yet: have the migrations run?", in.Addr), err)
	case mysqlLockWait, mysqlDeadlock, mysqlTooManyConnections:
		return proto.Fail(proto.NotReady, err)
	case mysqlTableAccess, mysqlDBAccessDenied:
		return proto.FailHint(proto.Unexpected,
			fmt.Sprintf("the URL's user may not run the query= on %s: GRANT it SELECT, or use another user", in.Addr), err)
	}
	return proto.FailHint(proto.Unexpected, fmt.Sprintf("the query= failed on %s: fix the query (it is retried, but waiting will not fix it)", in.Addr), err)
}

// lenenc decodes a length-encoded integer; size 0 when malformed.
func lenenc(p []byte) (n uint64, size int) {
	switch {
	case len(p) == 0:
		return 0, 0
	case p[0] < 0xfb:
		return uint64(p[0]), 1
	case p[0] == 0xfc && len(p) >= 3:
		return uint64(binary.LittleEndian.Uint16(p[1:])), 3
	case p[0] == 0xfd && len(p) >= 4:
		return uint64(p[1]) | uint64(p[2])<<8 | uint64(p[3])<<16, 4
	case p[0] == 0xfe && len(p) >= 9:
		return binary.LittleEndian.Uint64(p[1:]), 9
	}
	return 0, 0
}
