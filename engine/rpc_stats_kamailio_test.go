package engine_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kemisip/kemi/engine/enginetest"
	"github.com/kemisip/kemi/internal/kamailiotest"
)

// kamailioModsConfig is Kamailio 5.6 with the modules whose RPC methods
// kemi answers, jsonrpcs on HTTP, and REGISTERs saved. Defines: LISTEN
// (udp), HTTP (tcp).
const kamailioModsConfig = `#!KAMAILIO
debug=1
log_stderror=yes
children=1
tcp_children=1
auto_aliases=no
listen=LISTEN
listen=HTTP
loadmodule "xhttp.so"
loadmodule "jsonrpcs.so"
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "kex.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "htable.so"
modparam("jsonrpcs", "transport", 1)
modparam("htable", "htable", "a=>size=4;")
modparam("htable", "htable", "b=>size=4;autoexpire=100")
request_route {
	if (method == "REGISTER") { save("location"); exit; }
	sl_send_reply("404", "Not Here");
	exit;
}
event_route[xhttp:request] {
	jsonrpc_dispatch();
	exit;
}
`

// kemiModsScript is what kamailioModsConfig routes, for kemi.
const kemiModsScript = `
function ksr_request_route()
	if KSR.is_REGISTER() then
		KSR.registrar.save("location", 0)
		return
	end
	KSR.sl.sl_send_reply(404, "Not Here")
end
`

// prune returns the shape s without the object members named in drop,
// at any depth: what kemi leaves out of Kamailio's replies on purpose.
func prune(s any, drop ...string) any {
	switch x := s.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, v := range x {
			if !strings.Contains(" "+strings.Join(drop, " ")+" ", " "+k+" ") {
				out[k] = prune(v, drop...)
			}
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, v := range x {
			out[i] = prune(v, drop...)
		}
		return out
	}
	return s
}

// objectKeys returns the members of a JSON object in the order written.
func objectKeys(t *testing.T, raw []byte) []string {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := d.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %s", raw)
	}
	var keys []string
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := d.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// register sends a REGISTER of user to addr and waits for the reply.
func register(t *testing.T, addr, user string) {
	t.Helper()
	p := newPeer(t)
	id := strconv.FormatInt(time.Now().UnixNano(), 10)
	p.send(addr, fmt.Sprintf("REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s\r\nFrom: <sip:%s@example.com>;tag=a\r\nTo: <sip:%s@example.com>\r\nCall-ID: %s\r\nCSeq: 1 REGISTER\r\nContact: <sip:%s@127.0.0.1:5999>;expires=300;q=0.5\r\nUser-Agent: t\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
		p.port(), id, user, user, id, user))
	if r := p.recv(3 * time.Second); !strings.HasPrefix(r, "SIP/2.0 200") {
		t.Fatalf("REGISTER %s at %s: %q", user, addr, r)
	}
}

// TestModuleRPCsMatchKamailio calls the modules' methods on Kamailio 5.6
// and on kemi in the same state, and compares the replies' shapes (less
// the members kemi leaves out, documented in docs/rpc.md), the errors,
// and the statistic names.
func TestModuleRPCsMatchKamailio(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	httpAddr := l.Addr().String()
	l.Close()
	kamURL := "http://" + httpAddr + "/RPC"
	cfg := filepath.Join(t.TempDir(), "kamailio.cfg")
	if err := os.WriteFile(cfg, []byte(kamailioModsConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	kamSIP := kamailiotest.Start(t, cfg, []string{"jsonrpcs.so", "xhttp.so", "tmx.so", "htable.so", "usrloc.so", "registrar.so"}, "kamailio",
		func(string) bool {
			res, err := http.Post(kamURL, "application/json", strings.NewReader(`{"jsonrpc":"2.0","method":"core.version","id":1}`))
			if err == nil {
				res.Body.Close()
				return true
			}
			time.Sleep(50 * time.Millisecond)
			return false
		}, "HTTP=tcp:"+httpAddr)
	s := enginetest.Start(t, kemiModsScript, enginetest.WithParams("htable", map[string]any{
		"htable": []any{"a=>size=4;", "b=>size=4;autoexpire=100"},
	}))
	register(t, kamSIP, "alice")
	register(t, s.UDP(), "alice")

	type call struct {
		method string
		params []any
	}
	both := func(c call) (kam, kemi json.RawMessage) {
		t.Helper()
		k, kerr := enginetest.CallRPC(t, kamURL, c.method, c.params...)
		m, merr := s.RPC(c.method, c.params...)
		if (kerr == nil) != (merr == nil) || (kerr != nil && *kerr != *merr) {
			t.Errorf("%s %v: Kamailio answers %s %+v, kemi %s %+v", c.method, c.params, k, kerr, m, merr)
		}
		return k, m
	}
	// the calls that change state, the same on both
	for _, c := range []call{
		{"htable.sets", []any{"a", "k1", "v1"}},
		{"htable.seti", []any{"a", "k2", 5}},
		{"htable.sets", []any{"b", "k1", "v1"}},
	} {
		both(c)
	}
	for _, c := range []struct {
		call
		drop []string // members kemi leaves out
	}{
		{call{"tm.stats", nil}, []string{"rpl_received", "delayed_free"}},
		{call{"ul.dump", nil}, []string{"Size", "HashID", "Max-Slots", "Last-Keepalive", "KA-Roundtrip"}},
		{call{"ul.dump", []any{"brief"}}, []string{"Size", "Max-Slots"}},
		{call{"ul.lookup", []any{"location", "alice@example.com"}}, []string{"Last-Keepalive", "KA-Roundtrip"}},
		{call{"htable.get", []any{"a", "k1"}}, nil},
		{call{"htable.get", []any{"a", "k2"}}, nil},
		{call{"htable.get", []any{"b", "k1"}}, nil},
		{call{"htable.dump", []any{"b"}}, nil}, // one item: slots are in hash order
		{call{"htable.listTables", nil}, nil},
		{call{"htable.stats", nil}, nil},
		{call{"stats.get_statistics", []any{"sl:"}}, nil},
		// errors: the same code and text
		{call{"ul.lookup", []any{"location", "nobody"}}, nil},
		{call{"ul.lookup", []any{"nosuch", "alice"}}, nil},
		{call{"ul.lookup", []any{"location"}}, nil},
		{call{"ul.rm_contact", []any{"location", "nobody", "sip:x@y"}}, nil},
		{call{"htable.get", []any{"a", "nokey"}}, nil},
		{call{"htable.get", []any{"zz", "k"}}, nil},
		{call{"htable.delete", []any{"a", "nokey"}}, nil},
		{call{"htable.reload", []any{"a"}}, nil},
		{call{"htable.dump", []any{"zz"}}, nil},
		{call{"stats.get_statistics", nil}, nil},
		{call{"stats.reset_statistics", nil}, nil},
	} {
		k, m := both(c.call)
		if k == nil || m == nil {
			continue
		}
		var kv, mv any
		json.Unmarshal(k, &kv)
		json.Unmarshal(m, &mv)
		if ks, ms := prune(shape(kv), c.drop...), shape(mv); !reflect.DeepEqual(ks, ms) {
			t.Errorf("%s %v: Kamailio's reply has the shape %v (less %v), kemi's %v", c.method, c.params, ks, c.drop, ms)
		}
	}
	// tm.stats in Kamailio's order
	k, m := both(call{"tm.stats", nil})
	var order []string
	for _, key := range objectKeys(t, k) {
		if key != "rpl_received" && key != "delayed_free" {
			order = append(order, key)
		}
	}
	if got := objectKeys(t, m); !reflect.DeepEqual(got, order) {
		t.Errorf("tm.stats members %v, want Kamailio's order %v", got, order)
	}
	// every statistic kemi has is one of Kamailio's, under its group
	k, m = both(call{"stats.get_statistics", []any{"all"}})
	var kamAll, kemiAll []string
	json.Unmarshal(k, &kamAll)
	json.Unmarshal(m, &kemiAll)
	names := map[string]bool{}
	for _, line := range kamAll {
		name, _, _ := strings.Cut(line, " = ")
		names[name] = true
	}
	for _, line := range kemiAll {
		if name, _, _ := strings.Cut(line, " = "); !names[name] {
			t.Errorf("kemi's statistic %s is not one of Kamailio's", name)
		}
	}
	if len(kemiAll) < 30 {
		t.Errorf("kemi has %d statistics: %v", len(kemiAll), kemiAll)
	}
}
