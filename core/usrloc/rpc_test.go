package usrloc_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kemisip/kemi/engine/enginetest"
	"github.com/kemisip/kemi/internal/redistest"
	"github.com/kemisip/kemi/kemi"
)

// rpcScript saves REGISTERs and answers any other request with the
// contact lookup found (200, X-RURI) or 404.
const rpcScript = `
function ksr_request_route()
	if KSR.is_REGISTER() then
		if KSR.registrar.save("location", 0) < 0 then
			KSR.sl.sl_reply_error()
		end
		return
	end
	if KSR.registrar.lookup("location") < 0 then
		KSR.sl.sl_send_reply(404, "Not Found")
		return
	end
	KSR.hdr.append_to_reply("X-RURI: " .. KSR.pv.get("$ru") .. "\r\n")
	KSR.sl.sl_send_reply(200, "Found")
end
`

// exchange sends one request to addr and returns the reply's status
// line and X-RURI header.
func exchange(t *testing.T, addr, method, user, extra string) string {
	t.Helper()
	id := time.Now().UnixNano()
	res := enginetest.Exchange(t, addr, func(local string) string {
		return fmt.Sprintf("%s sip:%s@example.com SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-%d\r\nFrom: <sip:%s@example.com>;tag=1\r\nTo: <sip:%s@example.com>\r\nCall-ID: ul-%d\r\nCSeq: 1 %s\r\nMax-Forwards: 70\r\n%sContent-Length: 0\r\n\r\n",
			method, user, local, id, user, user, id, method, extra)
	}, 2*time.Second)
	lines := strings.Split(res, "\r\n")
	out := lines[0]
	for _, l := range lines {
		if v, ok := strings.CutPrefix(l, "X-RURI: "); ok {
			out += " " + v
		}
	}
	return out
}

func register(t *testing.T, s *enginetest.Server, user string, contacts ...string) {
	t.Helper()
	var hdrs strings.Builder
	for _, c := range contacts {
		fmt.Fprintf(&hdrs, "Contact: <%s>;expires=300;q=0.5\r\nUser-Agent: rpc-test\r\n", c)
	}
	if got := exchange(t, s.UDP(), "REGISTER", user, hdrs.String()); got != "SIP/2.0 200 OK" {
		t.Fatalf("REGISTER %s: %q", user, got)
	}
}

func wantError(t *testing.T, s *enginetest.Server, code int, msg, method string, params ...any) {
	t.Helper()
	res, rerr := s.RPC(method, params...)
	if rerr == nil || rerr.Code != code || rerr.Message != msg {
		t.Errorf("%s %v = %s %+v, want error %d %q", method, params, res, rerr, code, msg)
	}
}

// TestRPC runs ul.dump, ul.lookup, ul.rm and ul.rm_contact on a live
// engine, over the memory, SQLite and Redis stores: what they remove,
// the script's lookup no longer finds.
func TestRPC(t *testing.T) {
	for _, store := range []struct{ name, state string }{{"memory", "CS_NEW"}, {"sqlite", "CS_SYNC"}, {"redis", "CS_SYNC"}} {
		t.Run(store.name, func(t *testing.T) {
			url := "memory"
			switch store.name {
			case "sqlite":
				url = "sqlite://" + filepath.Join(t.TempDir(), "ul.db")
			case "redis":
				url, _ = redistest.Start(t)
			}
			s := enginetest.Start(t, rpcScript, enginetest.WithParams("usrloc", map[string]any{"db_url": url}))
			register(t, s, "alice", "sip:alice@127.0.0.1:5999")
			register(t, s, "bob", "sip:bob@127.0.0.1:5998", "sip:bob@127.0.0.1:5997")

			if got := s.RPCResult("ul.dump", "brief"); got != `{"Domains":[{"Domain":{"Domain":"location","AoRs":[{"AoR":"alice"},{"AoR":"bob"}],"Stats":{"Records":2}}}]}` {
				t.Errorf("ul.dump brief = %s", got)
			}
			var aor struct {
				AoR      string
				Contacts []struct{ Contact map[string]any }
			}
			got := s.RPCResult("ul.lookup", "location", "alice@example.com")
			if err := json.Unmarshal([]byte(got), &aor); err != nil || aor.AoR != "alice" || len(aor.Contacts) != 1 {
				t.Fatalf("ul.lookup alice = %s (%v)", got, err)
			}
			c := aor.Contacts[0].Contact
			for k, want := range map[string]any{"Address": "sip:alice@127.0.0.1:5999", "Q": 0.5, "CSeq": 1.0, "User-Agent": "rpc-test",
				"Received": "[not set]", "Path": "[not set]", "State": store.state, "Instance": "[not set]", "Tcpconn-Id": -1.0} {
				if c[k] != want {
					t.Errorf("ul.lookup alice: %s = %v, want %v", k, c[k], want)
				}
			}
			if exp, ok := c["Expires"].(float64); !ok || exp < 290 || exp > 300 {
				t.Errorf("ul.lookup alice: Expires = %v, want about 300", c["Expires"])
			}
			if sock, _ := c["Socket"].(string); !strings.HasPrefix(sock, "udp:127.0.0.1:") {
				t.Errorf("ul.lookup alice: Socket = %v", c["Socket"])
			}
			// Kamailio's key order, for the tools that print it as it comes
			if want := `{"AoR":"alice","Contacts":[{"Contact":{"Address":"sip:alice@127.0.0.1:5999","Expires":`; !strings.HasPrefix(got, want) {
				t.Errorf("ul.lookup alice = %s, want it to begin %s", got, want)
			}
			full := s.RPCResult("ul.dump")
			if !strings.Contains(full, `"AoRs":[{"Info":{"AoR":"alice","Contacts":[{"Contact":{"Address":"sip:alice@127.0.0.1:5999"`) || strings.Count(full, `"Address"`) != 3 {
				t.Errorf("ul.dump = %s", full)
			}

			if got := exchange(t, s.UDP(), "OPTIONS", "alice", ""); got != "SIP/2.0 200 Found sip:alice@127.0.0.1:5999" {
				t.Fatalf("lookup alice before ul.rm: %q", got)
			}
			if got := s.RPCResult("ul.rm", "location", "sip:alice@example.com"); got != `{}` {
				t.Errorf("ul.rm = %s", got)
			}
			if got := exchange(t, s.UDP(), "OPTIONS", "alice", ""); got != "SIP/2.0 404 Not Found" {
				t.Errorf("lookup alice after ul.rm: %q, want 404", got)
			}
			wantError(t, s, 500, "AOR not found in location table", "ul.lookup", "location", "alice")
			if got := s.RPCResult("ul.rm", "location", "alice"); got != `{}` {
				t.Errorf("ul.rm of an AOR without contacts = %s, want {} as Kamailio", got)
			}

			if got := s.RPCResult("ul.rm_contact", "location", "BOB", "sip:bob@127.0.0.1:5998"); got != `{}` {
				t.Errorf("ul.rm_contact = %s", got)
			}
			if got := exchange(t, s.UDP(), "OPTIONS", "bob", ""); got != "SIP/2.0 200 Found sip:bob@127.0.0.1:5997" {
				t.Errorf("lookup bob after ul.rm_contact: %q, want the other contact only", got)
			}
			wantError(t, s, 404, "Contact not found", "ul.rm_contact", "location", "bob", "sip:bob@127.0.0.1:5998")
			s.RPCResult("ul.rm_contact", "location", "bob", "sip:bob@127.0.0.1:5997")
			wantError(t, s, 404, "AOR not found", "ul.rm_contact", "location", "bob", "sip:bob@127.0.0.1:5997")
			if got := s.RPCResult("ul.dump"); got != `{"Domains":[{"Domain":{"Domain":"location","AoRs":[],"Stats":{"Records":0}}}]}` {
				t.Errorf("ul.dump when empty = %s", got)
			}
		})
	}
}

func TestRPCErrors(t *testing.T) {
	s := enginetest.Start(t, rpcScript)
	for _, c := range []struct {
		code   int
		msg    string
		method string
		params []any
	}{
		{500, "Not enough parameters (table and AOR to lookup)", "ul.lookup", []any{"location"}},
		{500, "Not enough parameters (table and AOR to lookup)", "ul.rm", nil},
		{500, "Not enough parameters (table, AOR and contact)", "ul.rm_contact", []any{"location", "a"}},
		{500, "Domain table not found", "ul.lookup", []any{"nosuch", "alice"}},
		{500, "Domain table not found", "ul.rm", []any{"nosuch", "alice"}},
		{kemi.RPCInvalidParams, "parameter 2 is not a string", "ul.lookup", []any{"location", map[string]int{"a": 1}}},
		{kemi.RPCInvalidParams, "parameter 1 is not a string", "ul.dump", []any{[]int{1}}},
	} {
		wantError(t, s, c.code, c.msg, c.method, c.params...)
	}
}

// TestRPCUseDomain: with use_domain, the AOR keeps its domain and must
// have one.
func TestRPCUseDomain(t *testing.T) {
	s := enginetest.Start(t, rpcScript, enginetest.WithParams("usrloc", map[string]any{"use_domain": 1}))
	register(t, s, "carol", "sip:carol@127.0.0.1:5996")
	if got := s.RPCResult("ul.dump", "brief"); !strings.Contains(got, `{"AoR":"carol@example.com"}`) {
		t.Errorf("ul.dump brief = %s", got)
	}
	wantError(t, s, 500, "Domain missing in AOR", "ul.lookup", "location", "carol")
	if got := s.RPCResult("ul.lookup", "location", "carol@example.com"); !strings.HasPrefix(got, `{"AoR":"carol@example.com",`) {
		t.Errorf("ul.lookup = %s", got)
	}
}
