package corex_test

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/kemi/kemitest"

	_ "github.com/kemisip/kemi/core/corex"
	_ "github.com/kemisip/kemi/core/ksr"
)

const invite = "INVITE sip:bob@example.com SIP/2.0\n" +
	"Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-c1\n" +
	"From: <sip:alice@example.com>;tag=a1\n" +
	"To: <sip:bob@example.com>\n" +
	"Call-ID: corex-1@192.0.2.10\n" +
	"CSeq: 1 INVITE\n" +
	"User-Agent: kemi-test\n" +
	"\n"

const options = "OPTIONS sip:example.com SIP/2.0\n" +
	"Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-c2\n" +
	"From: <sip:alice@example.com>;tag=a2\n" +
	"To: <sip:example.com>\n" +
	"Call-ID: corex-2@192.0.2.10\n" +
	"CSeq: 1 OPTIONS\n" +
	"\n"

const reply = "SIP/2.0 200 OK\n" +
	"Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-c1\n" +
	"From: <sip:alice@example.com>;tag=a1\n" +
	"To: <sip:bob@example.com>;tag=b1\n" +
	"Call-ID: corex-1@192.0.2.10\n" +
	"CSeq: 1 INVITE\n" +
	"User-Agent: kemi-test\n" +
	"\n"

var (
	udpSock  = &kemi.Socket{Proto: "udp", Addr: netip.MustParseAddrPort("127.0.0.1:5060")}
	tcpSock  = &kemi.Socket{Proto: "tcp", Addr: netip.MustParseAddrPort("127.0.0.1:5060")}
	pubSock  = &kemi.Socket{Proto: "udp", Addr: netip.MustParseAddrPort("10.0.0.1:5080"), AdvHost: "203.0.113.5", AdvPort: 5090, Name: "pub"}
	v6Sock   = &kemi.Socket{Proto: "tls", Addr: netip.MustParseAddrPort("[2001:db8::1]:5061"), Name: "v6"}
	allSocks = []*kemi.Socket{udpSock, tcpSock, pubSock, v6Sock}
)

func load(t *testing.T) *kemitest.Env {
	t.Helper()
	env := kemitest.Load(t, nil, "corex")
	env.Host.Socks = allSocks
	return env
}

func TestAppendBranch(t *testing.T) {
	env := load(t)

	// append_branch moves $du, the branch flags and the send socket of the
	// R-URI branch to the new branch
	m := kemitest.ParseMsg(t, invite)
	m.DstURI = "sip:10.0.0.9:5060"
	m.BFlags = 5
	m.SendSock = pubSock
	if v := env.Call(t, "KSR.corex.append_branch", m); v != kemi.OK {
		t.Fatalf("append_branch = %+v", v)
	}
	want := kemi.Branch{URI: "sip:bob@example.com", DstURI: "sip:10.0.0.9:5060", Q: -1, Flags: 5, Sock: pubSock}
	if len(m.Branches) != 1 || m.Branches[0] != want {
		t.Fatalf("branches = %+v, want [%+v]", m.Branches, want)
	}
	if m.DstURI != "" || m.BFlags != 0 || m.SendSock != nil || m.RURI() != "sip:bob@example.com" {
		t.Fatalf("after append_branch: du=%q bflags=%d sock=%v ruri=%q", m.DstURI, m.BFlags, m.SendSock, m.RURI())
	}

	// append_branch_uri copies them and leaves them on the message
	m = kemitest.ParseMsg(t, invite)
	m.DstURI = "sip:10.0.0.9:5060"
	m.BFlags = 2
	if v := env.Call(t, "KSR.corex.append_branch_uri", m, "sip:carol@example.net"); v != kemi.OK {
		t.Fatalf("append_branch_uri = %+v", v)
	}
	want = kemi.Branch{URI: "sip:carol@example.net", DstURI: "sip:10.0.0.9:5060", Q: -1, Flags: 2}
	if len(m.Branches) != 1 || m.Branches[0] != want {
		t.Fatalf("branches = %+v, want [%+v]", m.Branches, want)
	}
	if m.DstURI != "sip:10.0.0.9:5060" || m.BFlags != 2 {
		t.Fatalf("append_branch_uri changed the message: du=%q bflags=%d", m.DstURI, m.BFlags)
	}

	// an empty uri is the R-URI, as append_branch
	m = kemitest.ParseMsg(t, invite)
	m.DstURI = "sip:10.0.0.9"
	if v := env.Call(t, "KSR.corex.append_branch_uri", m, ""); v != kemi.OK || len(m.Branches) != 1 ||
		m.Branches[0].URI != "sip:bob@example.com" || m.DstURI != "" {
		t.Fatalf("append_branch_uri(\"\") = %+v, branches %+v, du %q", v, m.Branches, m.DstURI)
	}

	// URIs KSR.seturi refuses are refused as branches too
	for _, uri := range []string{"sip:a b@example.com", "sip:bob@exa<mple.com", "foo:bar", "sip:bob@example.com:99999", "sip:", "garbage"} {
		m := kemitest.ParseMsg(t, invite)
		if v := env.Call(t, "KSR.corex.append_branch_uri", m, uri); v != kemi.Fail || len(m.Branches) != 0 {
			t.Errorf("append_branch_uri(%q) = %+v, branches %+v; want -1 and none", uri, v, m.Branches)
		}
	}

	tests := []struct {
		q     string
		want  kemi.Value
		wantQ int
	}{
		{"0.5", kemi.OK, 500},
		{"1", kemi.OK, 1000},
		{"0", kemi.OK, 0},
		{".25", kemi.OK, 250},
		{"0.1239", kemi.OK, 123},
		{"1.000", kemi.OK, 1000},
		{"01", kemi.OK, 1000},
		{" 0.7", kemi.OK, 700},
		{"", kemi.OK, -1},
		{"1.5", kemi.Fail, 0},
		{"2", kemi.Fail, 0},
		{"0.", kemi.Fail, 0},
		{".", kemi.Fail, 0},
		{"abc", kemi.Fail, 0},
		{"-0.5", kemi.Fail, 0},
		{"0.5 ", kemi.Fail, 0},
		{" ", kemi.Fail, 0},
	}
	for _, tc := range tests {
		m := kemitest.ParseMsg(t, invite)
		v := env.Call(t, "KSR.corex.append_branch_uri_q", m, "sip:dave@example.org;transport=tcp", tc.q)
		if v != tc.want {
			t.Errorf("append_branch_uri_q(q=%q) = %+v, want %+v", tc.q, v, tc.want)
			continue
		}
		if tc.want == kemi.OK && (len(m.Branches) != 1 || m.Branches[0].Q != tc.wantQ || m.Branches[0].URI != "sip:dave@example.org;transport=tcp") {
			t.Errorf("append_branch_uri_q(q=%q): branches %+v, want q %d", tc.q, m.Branches, tc.wantQ)
		}
		if tc.want == kemi.Fail && len(m.Branches) != 0 {
			t.Errorf("append_branch_uri_q(q=%q) failed but added %+v", tc.q, m.Branches)
		}
	}

	// bad input
	for _, uri := range []string{"not a uri", "sip:", "bob"} {
		m := kemitest.ParseMsg(t, invite)
		if v := env.Call(t, "KSR.corex.append_branch_uri", m, uri); v != kemi.Fail || len(m.Branches) != 0 {
			t.Errorf("append_branch_uri(%q) = %+v, branches %+v", uri, v, m.Branches)
		}
	}
	r := kemitest.ParseMsg(t, reply)
	for fn, args := range map[string][]any{
		"append_branch":       nil,
		"append_branch_uri":   {"sip:x@example.com"},
		"append_branch_uri_q": {"sip:x@example.com", "0.5"},
	} {
		if v := env.Call(t, "KSR.corex."+fn, r, args...); v != kemi.Fail || len(r.Branches) != 0 {
			t.Errorf("%s on a reply = %+v", fn, v)
		}
	}

	// at most 12 branches including the R-URI one
	m = kemitest.ParseMsg(t, invite)
	for i := 0; i < 11; i++ {
		if v := env.Call(t, "KSR.corex.append_branch_uri", m, "sip:x@example.com"); v != kemi.OK {
			t.Fatalf("branch %d: append_branch_uri = %+v", i+1, v)
		}
	}
	if v := env.Call(t, "KSR.corex.append_branch", m); v != kemi.Fail || len(m.Branches) != 11 {
		t.Fatalf("12th branch: append_branch = %+v, %d branches", v, len(m.Branches))
	}
}

func TestMessageTests(t *testing.T) {
	env := load(t)
	noUA := kemitest.ParseMsg(t, options)
	emptyUA := kemitest.ParseMsg(t, options)
	emptyUA.AppendHeaders(sip.NewHeader("User-Agent", ""))
	faked := kemitest.ParseMsg(t, options)
	faked.Faked = true
	tests := []struct {
		fn   string
		m    *kemi.Msg
		want kemi.Value
	}{
		{"has_ruri_user", kemitest.ParseMsg(t, invite), kemi.OK},
		{"has_ruri_user", kemitest.ParseMsg(t, options), kemi.Fail},
		{"has_ruri_user", kemitest.ParseMsg(t, reply), kemi.Fail},
		{"has_user_agent", kemitest.ParseMsg(t, invite), kemi.OK},
		{"has_user_agent", kemitest.ParseMsg(t, reply), kemi.OK},
		{"has_user_agent", noUA, kemi.Fail},
		{"has_user_agent", emptyUA, kemi.Fail},
		{"is_faked_msg", kemitest.ParseMsg(t, invite), kemi.Fail},
		{"is_faked_msg", faked, kemi.OK},
	}
	for _, tc := range tests {
		if v := env.Call(t, "KSR.corex."+tc.fn, tc.m); v != tc.want {
			t.Errorf("%s on %s = %+v, want %+v", tc.fn, tc.m.Method(), v, tc.want)
		}
	}
}

func TestXFlags(t *testing.T) {
	env := load(t)
	m := kemitest.ParseMsg(t, invite)
	call := func(fn string, i any) kemi.Value { return env.Call(t, "KSR.corex."+fn, m, i) }
	for _, i := range []int{0, 31, 32, 63} {
		if v := call("isxflagset", i); v != kemi.Fail {
			t.Errorf("isxflagset(%d) before set = %+v", i, v)
		}
		if v := call("setxflag", i); v != kemi.OK {
			t.Errorf("setxflag(%d) = %+v", i, v)
		}
		if v := call("isxflagset", i); v != kemi.OK {
			t.Errorf("isxflagset(%d) after set = %+v", i, v)
		}
	}
	if m.XFlags != 1|1<<31|1<<32|1<<63 {
		t.Fatalf("XFlags = %#x", m.XFlags)
	}
	if v := call("resetxflag", 32); v != kemi.OK || m.XFlags != 1|1<<31|1<<63 {
		t.Fatalf("resetxflag(32) = %+v, XFlags %#x", v, m.XFlags)
	}
	if v := call("isxflagset", "63"); v != kemi.OK {
		t.Errorf("isxflagset(\"63\") = %+v", v)
	}
	for _, bad := range []any{64, -1, 1000} {
		for _, fn := range []string{"setxflag", "resetxflag", "isxflagset"} {
			if v := call(fn, bad); v != kemi.Fail {
				t.Errorf("%s(%v) = %+v, want -1", fn, bad, v)
			}
		}
	}
	if m.XFlags != 1|1<<31|1<<63 {
		t.Fatalf("bad indexes changed XFlags: %#x", m.XFlags)
	}
	// message flags are separate
	if m.Flags != 0 {
		t.Fatalf("Flags = %#x", m.Flags)
	}
}

// TestSendSocketAndFS checks that set_send_socket(x) and $fs = x pick the
// same socket: both are kemi.MatchSocket.
func TestSendSocketAndFS(t *testing.T) {
	env := kemitest.Load(t, nil, "core", "corex")
	env.Host.Socks = []*kemi.Socket{
		pubSock, tcpSock, udpSock, v6Sock, // udp first all the same, as Kamailio
		{Proto: "udp", Addr: netip.MustParseAddrPort("[::ffff:192.0.2.7]:5060")},
	}
	for _, spec := range []string{
		"127.0.0.1", "127.0.0.1:5060", "tcp:127.0.0.1", "udp:203.0.113.5", "203.0.113.5:5090",
		"10.0.0.1:5090", "[2001:db8::1]", "tls:[2001:db8::1]:5061", "192.0.2.7", "[::ffff:192.0.2.7]:5060",
	} {
		m1 := env.Prepare(kemitest.ParseMsg(t, invite))
		if v := env.Call(t, "KSR.corex.set_send_socket", m1, spec); v != kemi.OK {
			t.Errorf("set_send_socket(%q) = %+v", spec, v)
			continue
		}
		m2 := env.Prepare(kemitest.ParseMsg(t, invite))
		if v := env.Call(t, "KSR.pv.sets", m2, "$fs", spec); v != kemi.OK {
			t.Errorf("$fs = %q: %+v", spec, v)
			continue
		}
		if m1.SendSock != m2.SendSock {
			t.Errorf("%q: set_send_socket picked %v, $fs %v", spec, m1.SendSock, m2.SendSock)
		}
	}
}

func TestSendSocket(t *testing.T) {
	env := load(t)
	tests := []struct {
		fn   string
		arg  string
		want kemi.Value
		sock *kemi.Socket
	}{
		{"set_send_socket", "udp:127.0.0.1:5060", kemi.OK, udpSock},
		{"set_send_socket", "tcp:127.0.0.1:5060", kemi.OK, tcpSock},
		{"set_send_socket", "TCP:127.0.0.1", kemi.OK, tcpSock},
		{"set_send_socket", "127.0.0.1:5060", kemi.OK, udpSock},
		{"set_send_socket", "10.0.0.1", kemi.OK, pubSock},
		{"set_send_socket", "udp:203.0.113.5:5090", kemi.OK, pubSock}, // advertised address
		{"set_send_socket", "udp:10.0.0.1:5090", kemi.OK, pubSock},    // advertised port
		{"set_send_socket", "tls:[2001:db8::1]:5061", kemi.OK, v6Sock},
		{"set_send_socket", "[2001:DB8::1]", kemi.OK, v6Sock},
		{"set_send_socket", "udp:10.9.9.9:5060", kemi.Fail, nil},
		{"set_send_socket", "tcp:10.0.0.1:5080", kemi.Fail, nil},
		{"set_send_socket", "udp:127.0.0.1:5070", kemi.Fail, nil},
		{"set_send_socket", "pub", kemi.Fail, nil}, // a name is not an address
		{"set_send_socket", "bogus:127.0.0.1:5060", kemi.Fail, nil},
		{"set_send_socket", "udp:127.0.0.1:port", kemi.Fail, nil},
		{"set_send_socket", "udp:127.0.0.1:70000", kemi.Fail, nil},
		{"set_send_socket", "udp:127.0.0.1:5060:1", kemi.Fail, nil},
		{"set_send_socket", "udp:127.0.0.1:", kemi.Fail, nil},
		{"set_send_socket", "udp:[::1", kemi.Fail, nil},
		{"set_send_socket", "udp::5060", kemi.Fail, nil},
		{"set_send_socket_name", "pub", kemi.OK, pubSock},
		{"set_send_socket_name", "v6", kemi.OK, v6Sock},
		{"set_send_socket_name", "nope", kemi.Fail, nil},
		{"set_send_socket_name", "10.0.0.1", kemi.Fail, nil},
	}
	for _, tc := range tests {
		m := kemitest.ParseMsg(t, invite)
		m.SendSock = tcpSock // a failed call leaves it
		if tc.want == kemi.OK {
			m.SendSock = nil
		}
		v := env.Call(t, "KSR.corex."+tc.fn, m, tc.arg)
		if v != tc.want {
			t.Errorf("%s(%q) = %+v, want %+v", tc.fn, tc.arg, v, tc.want)
			continue
		}
		wantSock := tc.sock
		if tc.want == kemi.Fail {
			wantSock = tcpSock
		}
		if m.SendSock != wantSock {
			t.Errorf("%s(%q): SendSock = %v, want %v", tc.fn, tc.arg, m.SendSock, wantSock)
		}
		if m.Rcv.String() != "udp:127.0.0.1:5060" || m.Proto != "udp" {
			t.Errorf("%s(%q) changed the receiving socket", tc.fn, tc.arg)
		}
	}
	// an empty argument resets the forced send socket
	for _, fn := range []string{"set_send_socket", "set_send_socket_name", "set_recv_socket", "set_recv_socket_name"} {
		m := kemitest.ParseMsg(t, invite)
		m.SendSock = pubSock
		if v := env.Call(t, "KSR.corex."+fn, m, ""); v != kemi.OK || m.SendSock != nil {
			t.Errorf("%s(\"\") = %+v, SendSock %v", fn, v, m.SendSock)
		}
	}
}

func TestRecvSocket(t *testing.T) {
	env := load(t)
	m := kemitest.ParseMsg(t, invite)
	m.ConnID = 7
	if v := env.Call(t, "KSR.corex.set_recv_socket", m, "tcp:127.0.0.1:5060"); v != kemi.OK {
		t.Fatalf("set_recv_socket = %+v", v)
	}
	if m.Rcv != tcpSock || m.Proto != "tcp" || m.ConnID != 0 {
		t.Fatalf("after set_recv_socket: rcv %v proto %q conn %d", m.Rcv, m.Proto, m.ConnID)
	}
	if v := env.Call(t, "KSR.corex.set_recv_socket_name", m, "v6"); v != kemi.OK || m.Rcv != v6Sock || m.Proto != "tls" {
		t.Fatalf("set_recv_socket_name = %+v: rcv %v proto %q", v, m.Rcv, m.Proto)
	}
	for _, tc := range []struct{ fn, arg string }{
		{"set_recv_socket", "udp:10.9.9.9:5060"},
		{"set_recv_socket", "nonsense:1:2"},
		{"set_recv_socket_name", "nope"},
	} {
		if v := env.Call(t, "KSR.corex."+tc.fn, m, tc.arg); v != kemi.Fail || m.Rcv != v6Sock || m.Proto != "tls" {
			t.Errorf("%s(%q) = %+v: rcv %v proto %q", tc.fn, tc.arg, v, m.Rcv, m.Proto)
		}
	}
	if m.SendSock != nil {
		t.Fatalf("set_recv_socket changed SendSock to %v", m.SendSock)
	}
}

func TestIsSocketName(t *testing.T) {
	env := load(t)
	m := kemitest.ParseMsg(t, invite)
	for arg, want := range map[string]kemi.Value{"pub": kemi.OK, "v6": kemi.OK, "nope": kemi.Fail, "": kemi.Fail, "udp:127.0.0.1:5060": kemi.Fail} {
		if v := env.Call(t, "KSR.corex.is_socket_name", m, arg); v != want {
			t.Errorf("is_socket_name(%q) = %+v, want %+v", arg, v, want)
		}
	}
}

func TestSetSourceAddress(t *testing.T) {
	env := load(t)
	tests := []struct {
		arg  string
		want kemi.Value
		src  string
	}{
		{"10.1.2.3:5070", kemi.OK, "10.1.2.3:5070"},
		{"udp:10.1.2.3:5071", kemi.OK, "10.1.2.3:5071"},
		{"tcp:10.1.2.3", kemi.OK, "10.1.2.3:0"},
		{"10.1.2.3", kemi.OK, "10.1.2.3:0"},
		{"[2001:db8::7]:5080", kemi.OK, "[2001:db8::7]:5080"},
		{"[::ffff:10.1.2.4]:5080", kemi.OK, "10.1.2.4:5080"},
		{"host.example.com:5060", kemi.Fail, ""},
		{"10.1.2.3:99999", kemi.Fail, ""},
		{"10.1.2.3:5060:1", kemi.Fail, ""},
		{"", kemi.Fail, ""},
	}
	for _, tc := range tests {
		m := kemitest.ParseMsg(t, invite)
		v := env.Call(t, "KSR.corex.set_source_address", m, tc.arg)
		if v != tc.want {
			t.Errorf("set_source_address(%q) = %+v, want %+v", tc.arg, v, tc.want)
			continue
		}
		want := tc.src
		if tc.want == kemi.Fail {
			want = "192.0.2.10:5062"
		}
		if m.Src.String() != want {
			t.Errorf("set_source_address(%q): Src = %s, want %s", tc.arg, m.Src, want)
		}
		if m.Proto != "udp" {
			t.Errorf("set_source_address(%q) changed the protocol to %q", tc.arg, m.Proto)
		}
	}
}

func TestFiles(t *testing.T) {
	env := load(t)
	m := kemitest.ParseMsg(t, invite)
	dir := t.TempDir()
	path := filepath.Join(dir, "data.txt")

	if v := env.Call(t, "KSR.corex.file_write", m, path, "line 1\nline 2\n"); v != kemi.OK {
		t.Fatalf("file_write = %+v", v)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "line 1\nline 2\n" {
		t.Fatalf("file content = %q, %v", b, err)
	}
	if v := env.Call(t, "KSR.corex.file_read", m, path); v != kemi.Str("line 1\nline 2\n") {
		t.Fatalf("file_read = %+v", v)
	}
	// a write replaces the content
	if v := env.Call(t, "KSR.corex.file_write", m, path, "x"); v != kemi.OK {
		t.Fatalf("file_write = %+v", v)
	}
	if v := env.Call(t, "KSR.corex.file_read", m, path); v != kemi.Str("x") {
		t.Fatalf("file_read after rewrite = %+v", v)
	}
	if v := env.Call(t, "KSR.corex.file_write", m, path, ""); v != kemi.OK {
		t.Fatalf("file_write of nothing = %+v", v)
	}
	if v := env.Call(t, "KSR.corex.file_read", m, path); v != kemi.Str("") {
		t.Fatalf("file_read of an empty file = %+v", v)
	}

	// failures: file_read gives "" as Kamailio, file_write -1
	for _, p := range []string{filepath.Join(dir, "missing"), dir, ""} {
		if v := env.Call(t, "KSR.corex.file_read", m, p); v != kemi.Str("") {
			t.Errorf("file_read(%q) = %+v, want \"\"", p, v)
		}
	}
	for _, p := range []string{filepath.Join(dir, "no", "such", "dir"), dir, ""} {
		if v := env.Call(t, "KSR.corex.file_write", m, p, "data"); v != kemi.Fail {
			t.Errorf("file_write(%q) = %+v, want -1", p, v)
		}
	}
}

func TestMetrics(t *testing.T) {
	env := load(t)
	m := kemitest.ParseMsg(t, invite)
	env.Call(t, "KSR.corex.append_branch", m)
	env.Call(t, "KSR.corex.append_branch_uri", m, "sip:x@example.com")
	env.Call(t, "KSR.corex.append_branch_uri_q", m, "sip:x@example.com", "7")
	env.Call(t, "KSR.corex.set_send_socket", m, "udp:10.9.9.9:5060")
	env.Call(t, "KSR.corex.set_recv_socket_name", m, "nope")
	env.Call(t, "KSR.corex.file_read", m, filepath.Join(t.TempDir(), "missing"))
	env.Call(t, "KSR.corex.file_write", m, "", "x")
	var buf bytes.Buffer
	env.Metrics.WritePrometheus(&buf)
	for _, want := range []string{
		"kemi_corex_branches_appended_total 2\n",
		"kemi_corex_branch_errors_total 1\n",
		"kemi_corex_socket_not_found_total 2\n",
		`kemi_corex_file_errors_total{op="read"} 1` + "\n",
		`kemi_corex_file_errors_total{op="write"} 1` + "\n",
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, buf.String())
		}
	}
}

// TestExportsMatchKamailio checks the exports against Kamailio's catalogue
// and that exactly the functions kemi cannot provide are left out.
func TestExportsMatchKamailio(t *testing.T) {
	load(t).CheckExports(t, "corex", "forward_uac", "forward_uac_branch", "forward_uac_uri", "forward_uac_uri_branch",
		"send_data", "sendx", "via_add_srvid", "via_add_xavp_params", "via_reply_add_xavp_params", "via_use_xavp_fields")
}
