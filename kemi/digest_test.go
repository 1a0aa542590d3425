package kemi

import (
	"errors"
	"testing"

	"github.com/emiago/sipgo/sip"
)

func TestParseDigest(t *testing.T) {
	tests := []struct {
		in                            string
		username, user, domain, realm string
		err                           error // ErrNotDigest, or errAny for a parse error
	}{
		{in: `Digest username="alice@example.com", realm="example.com", nonce="n"`, username: "alice@example.com", user: "alice", domain: "example.com", realm: "example.com"},
		{in: `digest username="sip:bob@example.com",realm=r`, username: "sip:bob@example.com", user: "bob", domain: "example.com", realm: "r"},
		{in: "\r\n Digest\trealm=\"r\" , username=carol", username: "carol", user: "carol", realm: "r"},
		{in: `Digest username="sip:carol"`, username: "sip:carol", user: "carol"},
		{in: `Digest username="a@"`, username: "a@", user: "a@"}, // two characters: not split
		{in: `Digest username="", realm="r"`, realm: "r"},
		{in: `Digest,username=x`, username: "x", user: "x"},
		{in: `Digest username="a\"b"`, username: `a\`, user: `a\`}, // no escapes, as in Kamailio
		{in: `Digest username=x junk, realm=r`, username: "x", user: "x", realm: "r"},
		{in: `Basic YWxpY2U6c2VjcmV0`, err: ErrNotDigest},
		{in: `Digestive username=x`, err: ErrNotDigest},
		{in: `Digest`, err: ErrNotDigest},
		{in: `Digest username="unterminated`, err: errAny},
		{in: `Digest username=`, err: errAny},
		{in: `Digest username=x,`, err: errAny},
		{in: `Digest username=,realm=r`, err: errAny},
		{in: `Digest realm`, err: errAny},
	}
	for _, tc := range tests {
		d, err := ParseDigest(tc.in)
		switch {
		case tc.err == nil && err != nil:
			t.Errorf("ParseDigest(%q): %v", tc.in, err)
		case tc.err == ErrNotDigest && !errors.Is(err, ErrNotDigest):
			t.Errorf("ParseDigest(%q) = %v, want ErrNotDigest", tc.in, err)
		case tc.err == errAny && (err == nil || errors.Is(err, ErrNotDigest)):
			t.Errorf("ParseDigest(%q) = %v, want a parse error", tc.in, err)
		case tc.err == nil && (d.Username != tc.username || d.User != tc.user || d.Domain != tc.domain || d.Realm != tc.realm):
			t.Errorf("ParseDigest(%q) = %q %q %q %q, want %q %q %q %q", tc.in,
				d.Username, d.User, d.Domain, d.Realm, tc.username, tc.user, tc.domain, tc.realm)
		}
	}
	d, err := ParseDigest(`Digest NONCE="n", qop=auth, nc=00000001, nonce=m`)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := d.Param("Nonce"); !ok || v != "m" {
		t.Errorf("nonce = %q, %v; want the last one", v, ok)
	}
	if _, ok := d.Param("username"); ok {
		t.Error("username reported present")
	}
}

var errAny = errors.New("any parse error")

func TestMsgCredentials(t *testing.T) {
	req := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", Host: "example.com"})
	m := RequestMsg(req)
	if _, ok := m.Credentials(); ok {
		t.Error("credentials without a header")
	}
	req.AppendHeader(sip.NewHeader("Authorization", `Digest username="a@x", realm="x"`))
	if d, ok := m.Credentials(); !ok || d.User != "a" {
		t.Errorf("Authorization: %+v, %v", d, ok)
	}
	req.AppendHeader(sip.NewHeader("Proxy-Authorization", `Digest username="b@y", realm="y"`))
	if d, ok := m.Credentials(); !ok || d.User != "b" {
		t.Errorf("Proxy-Authorization first: %+v, %v", d, ok)
	}
	req.Method = sip.CANCEL
	if _, ok := m.Credentials(); ok {
		t.Error("credentials of a CANCEL")
	}
}
