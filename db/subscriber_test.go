package db

import "testing"

func TestHA1(t *testing.T) {
	// printf 'alice:example.com:secret' | md5sum, and with alice@example.com
	ha1, ha1b := HA1("alice", "example.com", "secret")
	if ha1 != "b1726872c344b6dc8365b774f8fd6412" || ha1b != "c79656e4f06dbae9fdf6727654273c65" {
		t.Errorf("HA1 = %s, %s", ha1, ha1b)
	}
}
