package mongodb

import (
	"encoding/binary"
	"math"
	"strings"

	"github.com/depprobe/depprobe/probe/proto"
)

// A minimal BSON (https://bsonspec.org/spec.html): what the probe sends
// (strings, integers, booleans, binary data and embedded documents) and
// what it reads of a reply's top level.

// BSON element types the probe writes or reads.
const (
	bsonDouble   = 0x01
	bsonString   = 0x02
	bsonDocument = 0x03
	bsonArray    = 0x04
	bsonBinary   = 0x05
	bsonObjectID = 0x07
	bsonBool     = 0x08
	bsonDateTime = 0x09
	bsonNull     = 0x0a
	bsonRegex    = 0x0b
	bsonInt32    = 0x10
	bsonTime     = 0x11
	bsonInt64    = 0x12
	bsonDecimal  = 0x13
	bsonMinKey   = 0xff
	bsonMaxKey   = 0x7f
)

// doc builds a BSON document; the zero value is an empty one.
type doc struct{ b []byte }

func (d *doc) key(t byte, k string) {
	d.b = append(d.b, t)
	d.b = append(d.b, k...)
	d.b = append(d.b, 0)
}

func (d *doc) str(k, v string) *doc {
	d.key(bsonString, k)
	d.b = binary.LittleEndian.AppendUint32(d.b, uint32(len(v)+1))
	d.b = append(d.b, v...)
	d.b = append(d.b, 0)
	return d
}

func (d *doc) int32(k string, v int32) *doc {
	d.key(bsonInt32, k)
	d.b = binary.LittleEndian.AppendUint32(d.b, uint32(v))
	return d
}

func (d *doc) bool(k string, v bool) *doc {
	d.key(bsonBool, k)
	if v {
		d.b = append(d.b, 1)
	} else {
		d.b = append(d.b, 0)
	}
	return d
}

func (d *doc) binary(k string, v []byte) *doc {
	d.key(bsonBinary, k)
	d.b = binary.LittleEndian.AppendUint32(d.b, uint32(len(v)))
	d.b = append(d.b, 0) // subtype: generic
	d.b = append(d.b, v...)
	return d
}

func (d *doc) doc(k string, v *doc) *doc {
	d.key(bsonDocument, k)
	d.b = append(d.b, v.bytes()...)
	return d
}

// bytes is the encoded document: its length, its elements, a 0.
func (d *doc) bytes() []byte {
	out := binary.LittleEndian.AppendUint32(nil, uint32(len(d.b)+5))
	out = append(out, d.b...)
	return append(out, 0)
}

// value is one element of a decoded document: its type and its encoded
// value.
type value struct {
	t byte
	v []byte
}

// fields is a decoded document's top level, by key (the first of a
// repeated key).
type fields map[string]value

var errBSON = proto.Failf(proto.Unexpected, "not a MongoDB reply: malformed BSON")

// decode reads one BSON document's top-level elements; b must hold exactly
// the document.
func decode(b []byte) (fields, error) {
	if len(b) < 5 || int(binary.LittleEndian.Uint32(b)) != len(b) || b[len(b)-1] != 0 {
		return nil, errBSON
	}
	f := fields{}
	b = b[4 : len(b)-1]
	for len(b) > 0 {
		t := b[0]
		end := strings.IndexByte(string(b[1:]), 0)
		if end < 0 {
			return nil, errBSON
		}
		k := string(b[1 : 1+end])
		b = b[2+end:]
		n, err := size(t, b)
		if err != nil {
			return nil, err
		}
		if _, dup := f[k]; !dup {
			f[k] = value{t, b[:n]}
		}
		b = b[n:]
	}
	return f, nil
}

// size is the length of a value of type t at the start of b.
func size(t byte, b []byte) (int, error) {
	n := -1
	switch t {
	case bsonDouble, bsonDateTime, bsonTime, bsonInt64:
		n = 8
	case bsonString:
		if len(b) >= 4 {
			n = 4 + int(binary.LittleEndian.Uint32(b))
			if n < 5 || n > len(b) || b[n-1] != 0 {
				n = -1
			}
		}
	case bsonDocument, bsonArray:
		if len(b) >= 4 {
			n = int(binary.LittleEndian.Uint32(b))
			if n < 5 || n > len(b) || b[n-1] != 0 {
				n = -1
			}
		}
	case bsonBinary:
		if len(b) >= 5 {
			n = 5 + int(binary.LittleEndian.Uint32(b))
			if n < 5 {
				n = -1
			}
		}
	case bsonObjectID:
		n = 12
	case bsonBool:
		n = 1
	case bsonNull, bsonMinKey, bsonMaxKey:
		n = 0
	case bsonRegex:
		if i := strings.IndexByte(string(b), 0); i >= 0 {
			if j := strings.IndexByte(string(b[i+1:]), 0); j >= 0 {
				n = i + j + 2
			}
		}
	case bsonInt32:
		n = 4
	case bsonDecimal:
		n = 16
	}
	if n < 0 || n > len(b) {
		return 0, errBSON
	}
	return n, nil
}

// str is a string field; "" when absent or of another type.
func (f fields) str(k string) string {
	v, ok := f[k]
	if !ok || v.t != bsonString {
		return ""
	}
	return string(v.v[4 : len(v.v)-1])
}

// bool is a boolean field; false when absent or of another type.
func (f fields) bool(k string) bool {
	v, ok := f[k]
	return ok && v.t == bsonBool && v.v[0] != 0
}

// num is a numeric field (double, int32, int64, as servers send "ok" and
// codes in any of them); ok false when absent or of another type.
func (f fields) num(k string) (n float64, ok bool) {
	v, found := f[k]
	if !found {
		return 0, false
	}
	switch v.t {
	case bsonDouble:
		return math.Float64frombits(binary.LittleEndian.Uint64(v.v)), true
	case bsonInt32:
		return float64(int32(binary.LittleEndian.Uint32(v.v))), true
	case bsonInt64:
		return float64(int64(binary.LittleEndian.Uint64(v.v))), true
	case bsonBool:
		if v.v[0] != 0 {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

// binary is a binary field's data; nil when absent or of another type.
func (f fields) binary(k string) []byte {
	v, ok := f[k]
	if !ok || v.t != bsonBinary {
		return nil
	}
	return v.v[5:]
}

// strings is an array of strings (other elements skipped); nil when absent.
func (f fields) strings(k string) []string {
	v, ok := f[k]
	if !ok || v.t != bsonArray {
		return nil
	}
	a, err := decode(v.v)
	if err != nil {
		return nil
	}
	var out []string
	for i := range len(a) {
		if s := a.str(itoa(i)); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// document is an embedded document; nil when absent or malformed.
func (f fields) document(k string) fields {
	v, ok := f[k]
	if !ok || v.t != bsonDocument {
		return nil
	}
	d, _ := decode(v.v)
	return d
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}
