package db

import (
	"crypto/md5"
	"encoding/hex"
)

// HA1 returns the digest hashes of a subscriber, as kamctl stores them in
// the subscriber table's ha1 and ha1b columns: MD5(user:domain:password)
// and MD5(user@domain:domain:password), in lower-case hex.
func HA1(user, domain, password string) (ha1, ha1b string) {
	return md5Hex(user + ":" + domain + ":" + password), md5Hex(user + "@" + domain + ":" + domain + ":" + password)
}

func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}
