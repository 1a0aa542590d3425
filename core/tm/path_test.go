package tm_test

import (
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/engine"
	"github.com/kemisip/kemi/engine/enginetest"
	"github.com/kemisip/kemi/kemi"
)

// lookupStub stands in for registrar's lookup in these tests: it sets the
// destination set the way lookup does (Request-URI, $du, Path set and q
// of branch 0; appended branches with theirs).
type lookupStub struct{}

func init() {
	kemi.Register(kemi.ModuleInfo{Name: "tmpathtest", New: func() kemi.Module { return lookupStub{} }})
}

func (lookupStub) Exports() []kemi.Export {
	ssss := []kemi.ParamKind{kemi.ParamStr, kemi.ParamStr, kemi.ParamStr, kemi.ParamInt}
	return []kemi.Export{
		{Module: "tmpathtest", Name: "set", Params: ssss, Return: kemi.ReturnInt, Func: func(m *kemi.Msg, a kemi.Args) kemi.Value {
			if err := m.SetRURI(a.Str(0)); err != nil {
				return kemi.Fail
			}
			m.DstURI, m.PathVec = a.Str(1), a.Str(2)
			m.SetRURIQ(a.Int(3))
			return kemi.OK
		}},
		{Module: "tmpathtest", Name: "append", Params: ssss, Return: kemi.ReturnInt, Func: func(m *kemi.Msg, a kemi.Args) kemi.Value {
			m.Branches = append(m.Branches, kemi.Branch{URI: a.Str(0), DstURI: a.Str(1), Path: a.Str(2), Q: a.Int(3)})
			return kemi.OK
		}},
	}
}

// startPath starts an engine with the lookup stub and script.
func startPath(t *testing.T, script string, defines map[string]string) (*enginetest.Server, *peer) {
	t.Helper()
	s := enginetest.Start(t, script, enginetest.WithConfig(func(c *engine.Config) {
		c.Defines = defines
		c.Modules = append(kemi.StandardModules(), "tmpathtest")
	}))
	return s, newPeer(t, "alice")
}

// lr is the loose-routing URI of a peer, as a Path entry.
func lr(p *peer) string { return "<sip:" + p.addr() + ";lr>" }

// TestRelayPathAsRoute checks that t_relay sends each branch along its
// Path set: branch 0 (PathVec, no $du) goes to its first Path hop, an
// appended branch with $du goes to $du; each carries its Path set as
// Route headers right above the Route the request came with (where
// Kamailio writes its path vector), and the CANCEL of
// a branch carries the same route set.
func TestRelayPathAsRoute(t *testing.T) {
	edge1, edge2 := newPeer(t, "edge1"), newPeer(t, "edge2")
	s, uac := startPath(t, `
function ksr_request_route()
	if KSR.is_CANCEL() then
		if KSR.tm.t_check_trans() > 0 then KSR.tm.t_relay() end
		return
	end
	KSR.tmpathtest.set("sip:dev1@192.0.2.1:5070", "", KSR.kx.get_def("path1"), 1000)
	KSR.tmpathtest.append("sip:dev2@192.0.2.2:5070", KSR.kx.get_def("du2"), KSR.kx.get_def("path2"), 500)
	KSR.tm.t_relay()
end`, map[string]string{
		"path1": lr(edge1),
		"du2":   "sip:" + edge2.addr(),
		"path2": lr(edge2) + ",<sip:core.example.com;lr;x=1>",
	})
	invite := uac.invite("sip:bob@"+s.UDP(), "path-relay-1", "pr1", 1, "Route: <sip:orig.example.com;lr>")
	uac.send(s.UDP(), invite)

	cases := []struct {
		name   string
		p      *peer
		ruri   string
		routes []string
	}{
		{"branch 0 to its first Path hop", edge1, "sip:dev1@192.0.2.1:5070",
			[]string{"Route: " + lr(edge1), "Route: <sip:orig.example.com;lr>"}},
		{"branch 1 to its $du", edge2, "sip:dev2@192.0.2.2:5070",
			[]string{"Route: " + lr(edge2), "Route: <sip:core.example.com;lr;x=1>", "Route: <sip:orig.example.com;lr>"}},
	}
	got := make([]received, len(cases))
	for i, c := range cases {
		got[i] = c.p.rawRequest("INVITE", 2*time.Second)
		w := parseWire(got[i].raw)
		t.Run(c.name, func(t *testing.T) {
			if want := "INVITE " + c.ruri + " SIP/2.0"; w.first != want {
				t.Errorf("request line %q, want %q", w.first, want)
			}
			if rs := w.all("Route"); strings.Join(rs, "\n") != strings.Join(c.routes, "\n") {
				t.Errorf("Route headers\n%s\nwant\n%s", strings.Join(rs, "\n"), strings.Join(c.routes, "\n"))
			}
		})
	}
	// the CANCEL of each branch follows the same route set
	for i, c := range cases {
		c.p.reply(got[i].msg.(*sip.Request), got[i].from, 180, "Ringing", c.p.name+"tag")
	}
	uac.expectStatus(180, 2*time.Second)
	uac.send(s.UDP(), uac.request("CANCEL", "sip:bob@"+s.UDP(), "path-relay-1", "pr1", 1, "", "Route: <sip:orig.example.com;lr>"))
	for _, c := range cases {
		w := parseWire(c.p.rawRequest("CANCEL", 2*time.Second).raw)
		if rs := w.all("Route"); strings.Join(rs, "\n") != strings.Join(c.routes, "\n") {
			t.Errorf("%s: CANCEL Route headers\n%s\nwant\n%s", c.name, strings.Join(rs, "\n"), strings.Join(c.routes, "\n"))
		}
	}
}

// TestLoadContactsSerialByQ checks serial forking over what registrar's
// lookup sets: t_load_contacts takes the q of the Request-URI (RURIQ) and
// keeps each destination's $du and Path set, and t_next_contacts gives
// them back group by group, the highest q first. Without Route headers
// in the request, the Path Routes go right below our Via.
func TestLoadContactsSerialByQ(t *testing.T) {
	p1, p2, p3 := newPeer(t, "p1"), newPeer(t, "p2"), newPeer(t, "p3")
	s, uac := startPath(t, `
function ksr_request_route()
	-- the R-URI (q 0.5, Path, no $du) and two branches, as lookup leaves them
	KSR.tmpathtest.set("sip:c1@192.0.2.1", "", KSR.kx.get_def("path1"), 500)
	KSR.tmpathtest.append("sip:c2@192.0.2.2", KSR.kx.get_def("du2"), KSR.kx.get_def("path2"), 1000)
	KSR.tmpathtest.append("sip:c3@192.0.2.3", KSR.kx.get_def("du3"), "", 500)
	KSR.tm.t_load_contacts()
	KSR.tm.t_next_contacts()
	KSR.tm.t_on_failure("ksr_next")
	KSR.tm.t_relay()
end
function ksr_next()
	if KSR.tm.t_next_contacts() > 0 then
		KSR.tm.t_on_failure("ksr_next")
		KSR.tm.t_relay()
	end
end`, map[string]string{
		"path1": lr(p1),
		"du2":   "sip:" + p2.addr(),
		"path2": lr(p2) + ",<sip:core.example.com;lr>",
		"du3":   "sip:" + p3.addr(),
	})
	uac.send(s.UDP(), uac.invite("sip:bob@"+s.UDP(), "path-serial-1", "ps1", 1))

	// q 1.0 first: c2 alone, to its $du, along its Path
	r2 := p2.rawRequest("INVITE", 2*time.Second)
	w2 := parseWire(r2.raw)
	if want := "INVITE sip:c2@192.0.2.2 SIP/2.0"; w2.first != want {
		t.Fatalf("first branch %q, want %q", w2.first, want)
	}
	wantRoutes := []string{"Route: " + lr(p2), "Route: <sip:core.example.com;lr>"}
	if rs := w2.all("Route"); strings.Join(rs, "\n") != strings.Join(wantRoutes, "\n") {
		t.Errorf("c2 Route headers %q, want %q", rs, wantRoutes)
	}
	if names := strings.Join(w2.names(), ","); !strings.HasPrefix(names, "Via,Route,Route,Via,") {
		t.Errorf("c2 header order %s, want our Via, the Path Routes, the caller's Via", names)
	}
	p1.quiet(100*time.Millisecond, nil)
	p2.reply(r2.msg.(*sip.Request), r2.from, 486, "Busy Here", "p2tag")

	// then q 0.5 in parallel: c3 (no Path) and c1 (the R-URI's q and Path:
	// to its first Path hop)
	r3 := p3.rawRequest("INVITE", 2*time.Second)
	if w := parseWire(r3.raw); w.first != "INVITE sip:c3@192.0.2.3 SIP/2.0" || len(w.all("Route")) != 0 {
		t.Errorf("c3: %q with Routes %q, want sip:c3@192.0.2.3 and none", w.first, w.all("Route"))
	}
	r1 := p1.rawRequest("INVITE", 2*time.Second)
	w1 := parseWire(r1.raw)
	if w1.first != "INVITE sip:c1@192.0.2.1 SIP/2.0" || strings.Join(w1.all("Route"), "\n") != "Route: "+lr(p1) {
		t.Errorf("c1: %q with Routes %q, want sip:c1@192.0.2.1 with Route %s", w1.first, w1.all("Route"), lr(p1))
	}
	p1.reply(r1.msg.(*sip.Request), r1.from, 486, "Busy Here", "p1tag")
	p3.reply(r3.msg.(*sip.Request), r3.from, 486, "Busy Here", "p3tag")
	uac.expectStatus(486, 2*time.Second)
}
