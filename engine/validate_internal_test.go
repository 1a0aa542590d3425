package engine

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

// wireRequest is an OPTIONS request with the given Request-URI, top Via
// and extra headers.
func wireRequest(ruri, via string, extra ...string) string {
	return "OPTIONS " + ruri + " SIP/2.0\r\n" +
		"Via: " + via + "\r\n" +
		"From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:b@127.0.0.1>\r\n" +
		"Call-ID: v-1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n" +
		strings.Join(extra, "") + "Content-Length: 0\r\n\r\n"
}

// wireReply is a reply with the given status line and second Via.
func wireReply(status, via2 string, extra ...string) string {
	return "SIP/2.0 " + status + "\r\n" +
		"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKtop\r\n" +
		"Via: " + via2 + "\r\n" +
		"From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:b@127.0.0.1>;tag=2\r\n" +
		"Call-ID: v-2\r\nCSeq: 1 OPTIONS\r\n" +
		strings.Join(extra, "") + "Content-Length: 0\r\n\r\n"
}

const goodVia = "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKv;rport"

func TestCheckWireValues(t *testing.T) {
	tests := []struct {
		name string
		msg  string
		ok   bool
	}{
		{"plain request", wireRequest("sip:b@127.0.0.1", goodVia), true},
		{"ports at the edges", wireRequest("sip:b@127.0.0.1:65535", "SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKv;rport=65535",
			"Route: <sip:127.0.0.1:65535;lr>\r\n", "Contact: <sip:a@127.0.0.1:65535>\r\n", "Record-Route: <sip:127.0.0.1:65535;lr>\r\n"), true},
		{"IPv6 Via", wireRequest("sip:b@[2001:db8::1]:5060", "SIP/2.0/UDP [2001:db8::9]:5070;branch=z9hG4bKv;received=2001:db8::9;rport=5070"), true},
		{"received IPv4", wireRequest("sip:b@127.0.0.1", "SIP/2.0/UDP host.example.com;branch=z9hG4bKv;received=192.0.2.1;rport=5062"), true},
		{"wildcard Contact", wireRequest("sip:127.0.0.1", goodVia, "Contact: *\r\n", "Expires: 0\r\n"), true},
		{"tel Request-URI", wireRequest("tel:+15551234567", goodVia), true},
		{"CSeq at 2^31-1", strings.Replace(wireRequest("sip:b@127.0.0.1", goodVia), "CSeq: 1 ", "CSeq: 2147483647 ", 1), true},
		{"Content-Length twice, same", wireRequest("sip:b@127.0.0.1", goodVia, "l: 0\r\n"), true},
		{"status 100", wireReply("100 Trying", goodVia), true},
		{"status 699", wireReply("699 Last", goodVia), true},
		{"reply with rport and received", wireReply("200 OK", "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKv;rport=5062;received=192.0.2.1"), true},

		{"Via port 999999", wireRequest("sip:b@127.0.0.1", "SIP/2.0/UDP 127.0.0.1:999999;branch=z9hG4bKv;rport"), false},
		{"Via port 65536", wireRequest("sip:b@127.0.0.1", "SIP/2.0/UDP 127.0.0.1:65536;branch=z9hG4bKv"), false},
		{"Via port -1", wireRequest("sip:b@127.0.0.1", "SIP/2.0/UDP 127.0.0.1:-1;branch=z9hG4bKv"), false},
		{"Via port not a number", wireRequest("sip:b@127.0.0.1", "SIP/2.0/UDP 127.0.0.1:50x0;branch=z9hG4bKv"), false},
		{"Via IPv6 port 999999", wireRequest("sip:b@127.0.0.1", "SIP/2.0/UDP [2001:db8::9]:999999;branch=z9hG4bKv"), false},
		{"second Via port 999999", wireRequest("sip:b@127.0.0.1", goodVia+"\r\nVia: SIP/2.0/UDP 10.0.0.1:999999;branch=z9hG4bK2"), false},
		{"Via value after a comma", wireRequest("sip:b@127.0.0.1", goodVia+", SIP/2.0/UDP 10.0.0.1:999999;branch=z9hG4bK2"), false},
		{"Via rport 99999", wireRequest("sip:b@127.0.0.1", "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKv;rport=99999"), false},
		{"Via rport 0", wireRequest("sip:b@127.0.0.1", "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKv;rport=0"), false},
		{"Via rport not a number", wireRequest("sip:b@127.0.0.1", "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKv;rport=x"), false},
		{"Via received a name", wireRequest("sip:b@127.0.0.1", "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKv;received=evil.example.com"), false},
		{"reply second Via rport 999999", wireReply("200 OK", "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKv;rport=999999;received=192.0.2.1"), false},
		{"reply second Via port 999999", wireReply("200 OK", "SIP/2.0/UDP 10.0.0.1:999999;branch=z9hG4bKv"), false},
		{"Request-URI port 99999", wireRequest("sip:b@127.0.0.1:99999", goodVia), false},
		{"sips Request-URI port 99999", wireRequest("sips:b@127.0.0.1:99999", goodVia), false},
		{"Route port 99999", wireRequest("sip:b@127.0.0.1", goodVia, "Route: <sip:127.0.0.1:99999;lr>\r\n"), false},
		{"second Route port 99999", wireRequest("sip:b@127.0.0.1", goodVia, "Route: <sip:127.0.0.1;lr>, <sip:127.0.0.2:99999;lr>\r\n"), false},
		{"Record-Route port 99999", wireRequest("sip:b@127.0.0.1", goodVia, "Record-Route: <sip:127.0.0.1:99999;lr>\r\n"), false},
		{"Contact port 99999", wireRequest("sip:b@127.0.0.1", goodVia, "Contact: <sip:a@127.0.0.1:99999>\r\n"), false},
		{"Contact port -5", wireRequest("sip:b@127.0.0.1", goodVia, "Contact: <sip:a@127.0.0.1:-5>\r\n"), false},
		{"Content-Length disagree", wireRequest("sip:b@127.0.0.1", goodVia, "l: 5\r\n"), false},
		{"status 99", wireReply("099 Low", goodVia), false},
		{"status 700", wireReply("700 High", goodVia), false},
		{"status 999", wireReply("999 High", goodVia), false},
		{"status 1000", wireReply("1000 Big", goodVia), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseWire([]byte(tc.msg), false, 65535)
			if tc.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tc.ok && err == nil {
				t.Fatalf("accepted:\n%s", tc.msg)
			}
		})
	}
}

// TestCheckWireValuesLengths: bad numbers and lengths.
func TestCheckWireValuesLengths(t *testing.T) {
	for name, msg := range map[string]string{
		"CSeq 2^31":            strings.Replace(wireRequest("sip:b@127.0.0.1", goodVia), "CSeq: 1 ", "CSeq: 2147483648 ", 1),
		"status 4294967301":    wireReply("4294967301 Big", goodVia),
		"Content-Length +5":    strings.Replace(wireRequest("sip:b@127.0.0.1", goodVia), "Content-Length: 0\r\n\r\n", "Content-Length: +5\r\n\r\nhello", 1),
		"Content-Length -5":    strings.Replace(wireRequest("sip:b@127.0.0.1", goodVia), "Content-Length: 0\r\n\r\n", "Content-Length: -5\r\n\r\nhello", 1),
		"Content-Length 2^63":  strings.Replace(wireRequest("sip:b@127.0.0.1", goodVia), "Content-Length: 0\r\n\r\n", "Content-Length: 9223372036854775807\r\n\r\nx", 1),
		"body shorter":         strings.Replace(wireRequest("sip:b@127.0.0.1", goodVia), "Content-Length: 0\r\n\r\n", "Content-Length: 50\r\n\r\nhello", 1),
		"compact body shorter": strings.Replace(wireRequest("sip:b@127.0.0.1", goodVia), "Content-Length: 0\r\n\r\n", "l: 50\r\n\r\nhello", 1),
	} {
		if _, err := parseWire([]byte(msg), false, 65535); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestCheckWireValuesTorture runs RFC 4475's torture messages, as sipgo's
// module ships them, through parseWire: no valid message that sipgo
// parses may be refused, and the invalid ones with bad lengths or numbers
// must be. (internal/sipmsg has its own copy of the whole RFC.)
func TestCheckWireValuesTorture(t *testing.T) {
	dir := sipgoTortureDir(t)
	files, err := filepath.Glob(filepath.Join(dir, "valid", "*.dat"))
	if err != nil || len(files) == 0 {
		t.Skipf("no RFC 4475 messages in %s", dir)
	}
	p := sip.NewParser()
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".dat")
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		msg, err := p.ParseSIP(data)
		if err != nil {
			t.Logf("%s: sipgo's parser refuses it: %v", name, err)
			continue
		}
		if _, err := parseWire(data, false, 65535); err != nil {
			t.Errorf("valid %s refused: %v", name, err)
		}
		// over TCP the framer cuts it whole
		if cl := msg.ContentLength(); cl != nil {
			if m, _, ferr := frameSIP(data, 65535); ferr != nil || m == nil || !bytes.HasSuffix(m, msg.Body()) {
				t.Errorf("valid %s: frameSIP = %d bytes, %v", name, len(m), ferr)
			}
		}
	}
	// RFC 4475 §3.1.2: bad Content-Length (clerr, ncl, mcl01) and a
	// status code too large (bigcode)
	for _, name := range []string{"clerr", "ncl", "mcl01", "bigcode", "scalar02"} {
		data, err := os.ReadFile(filepath.Join(dir, "invalid", name+".dat"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := parseWire(data, false, 65535); err == nil {
			t.Errorf("invalid %s accepted", name)
		}
	}
}

// sipgoTortureDir finds the RFC 4475 messages in sipgo's module.
func sipgoTortureDir(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/emiago/sipgo").Output()
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" {
		t.Skipf("sipgo's module folder not found: %v", err)
	}
	return filepath.Join(dir, "sip", "testdata", "torture")
}

// TestResolveRefusesPortOutOfRange: a URI a script builds (from a header,
// say) with a port over 65535 must not be sent to that port modulo 65536.
func TestResolveRefusesPortOutOfRange(t *testing.T) {
	e := newEngine(Config{Workers: 1}.withDefaults())
	for _, uri := range []string{"sip:10.0.0.1:99999", "sip:10.0.0.1:-1", "sip:name.invalid:70000;transport=tcp"} {
		if d, err := e.Resolve(context.Background(), uri); err == nil {
			t.Errorf("Resolve(%q) = %s, want an error", uri, d.Addr)
		}
	}
	d, err := e.Resolve(context.Background(), "sip:10.0.0.1:65535")
	if err != nil || d.Addr.Port() != 65535 {
		t.Errorf("Resolve(port 65535) = %v, %v", d.Addr, err)
	}
}

func TestParseWireLineEnds(t *testing.T) {
	good := wireRequest("sip:b@127.0.0.1", goodVia)
	tests := []struct {
		name string
		raw  string
		ok   bool
	}{
		{"CRLF everywhere", good, true},
		{"folded line", wireRequest("sip:b@127.0.0.1", goodVia, "Subject: a\r\n b\r\n"), true},
		{"bare LF in the body", strings.Replace(good, "Content-Length: 0", "Content-Length: 3", 1) + "a\nb", true},
		{"bare LF in a header value", wireRequest("sip:b@127.0.0.1", goodVia, "X: a\nContent-Length: 900\r\n"), false},
		{"bare LF in the start line", "OPTIONS sip:b@127.0.0.1\nSIP/2.0\r\n" + good[strings.Index(good, "\r\n")+2:], false},
		{"LF at the start", "\n" + good, false},
		{"LF line ends only", strings.ReplaceAll(good, "\r\n", "\n"), false},
	}
	for _, tc := range tests {
		if _, err := parseWire([]byte(tc.raw), false, 65535); (err == nil) != tc.ok {
			t.Errorf("%s: parseWire = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}
