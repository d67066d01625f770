package postgres

import (
	"crypto/md5"
	"encoding/hex"
)

// md5Password is the answer to AuthenticationMD5Password:
// "md5" + md5hex(md5hex(password + user) + salt).
func md5Password(user, password string, salt []byte) string {
	inner := md5.Sum([]byte(password + user))
	outer := md5.Sum(append([]byte(hex.EncodeToString(inner[:])), salt...))
	return "md5" + hex.EncodeToString(outer[:])
}
