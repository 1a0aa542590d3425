package ksr_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/kemi/kemitest"

	_ "github.com/kemisip/kemi/core/ksr"
)

// invite is the request most tests route; it comes from 192.0.2.10:5062
// over UDP to 127.0.0.1:5060 (see kemitest.ParseMsg).
const invite = `INVITE sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK776asdhds;rport
Max-Forwards: 70
From: "Alice" <sip:alice@atlanta.example.com>;tag=1928301774
To: Bob <sip:bob@example.com>
Call-ID: a84b4c76e66710@pc33.atlanta.example.com
CSeq: 314159 INVITE
Contact: <sip:alice@192.0.2.10:5062>
User-Agent: kemi-test/1.0
Content-Type: application/sdp

v=0
`

// ringing is a reply on its way back: the second Via says where it goes.
const ringing = `SIP/2.0 180 Ringing
Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKproxy
Via: SIP/2.0/TCP 192.0.2.10:5062;branch=z9hG4bK776;received=198.51.100.7;rport=6000
From: "Alice" <sip:alice@atlanta.example.com>;tag=1928301774
To: Bob <sip:bob@example.com>;tag=a6c85cf
Call-ID: a84b4c76e66710@pc33.atlanta.example.com
CSeq: 314159 INVITE
Content-Length: 0

`

// load loads the core module alone.
func load(t *testing.T) *kemitest.Env {
	t.Helper()
	return kemitest.Load(t, nil, "core")
}

// parse parses SIP text into a message served by env's fake host.
func parse(t *testing.T, env *kemitest.Env, text string) *kemi.Msg {
	t.Helper()
	return env.Prepare(kemitest.ParseMsg(t, text))
}

// request returns a minimal request with the given method and R-URI.
func request(method, ruri string) string {
	return method + " " + ruri + ` SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK1
From: <sip:alice@atlanta.example.com>;tag=1
To: <sip:bob@example.com>
Call-ID: c1
CSeq: 1 ` + method + `

`
}

// wantValue fails when got is not want.
func wantValue(t *testing.T, what string, got, want kemi.Value) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %s, want %s", what, show(got), show(want))
	}
}

// show prints a value with its kind.
func show(v kemi.Value) string {
	switch v.Kind {
	case kemi.KindInt:
		return "int " + v.String()
	case kemi.KindStr:
		return "str " + `"` + v.Str + `"`
	}
	return "null"
}

// headerNames lists the header names of the message in order.
func headerNames(m *kemi.Msg) []string {
	var out []string
	for _, h := range m.HeaderList() {
		out = append(out, h.Name())
	}
	return out
}

// aliasHost is the fake host, recording add_tcp_alias calls.
type aliasHost struct {
	*kemitest.Host
	conn  uint64
	alias netip.AddrPort
}

// AddTCPAlias records the call, then lets the fake host decide.
func (h *aliasHost) AddTCPAlias(connID uint64, addr netip.AddrPort) error {
	h.conn, h.alias = connID, addr
	return h.Host.AddTCPAlias(connID, addr)
}

// fakeRunner is a script with a few global functions, for KSR.route.
type fakeRunner struct {
	funcs map[string]func(m *kemi.Msg) (kemi.CallResult, error)
	calls []string
}

// Where returns a fixed script position.
func (r *fakeRunner) Where() string { return "test.lua:1" }

// Has reports whether the fake script defines name.
func (r *fakeRunner) Has(name string) bool { _, ok := r.funcs[name]; return ok }

// Call runs the fake function name.
func (r *fakeRunner) Call(name string, rt kemi.RouteType, m *kemi.Msg, args ...string) (kemi.CallResult, error) {
	f, ok := r.funcs[name]
	if !ok {
		return kemi.CallResult{}, nil
	}
	r.calls = append(r.calls, name+"@"+rt.String())
	return f(m)
}

// contains fails unless s contains sub.
func contains(t *testing.T, what, s, sub string) {
	t.Helper()
	if !strings.Contains(s, sub) {
		t.Errorf("%s does not contain %q:\n%s", what, sub, s)
	}
}
