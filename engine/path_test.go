package engine_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kemisip/kemi/engine"
	"github.com/kemisip/kemi/engine/enginetest"
	"github.com/kemisip/kemi/kemi"
)

// pathSetter sets $du and the Path set of branch 0, as registrar's lookup
// does, for the stateless forwarding tests.
type pathSetter struct{}

func init() {
	kemi.Register(kemi.ModuleInfo{Name: "enginepathtest", New: func() kemi.Module { return pathSetter{} }})
}

func (pathSetter) Exports() []kemi.Export {
	return []kemi.Export{{Module: "enginepathtest", Name: "set", Params: kemi.SS, Return: kemi.ReturnInt,
		Func: func(m *kemi.Msg, a kemi.Args) kemi.Value {
			m.DstURI, m.PathVec = a.Str(0), a.Str(1)
			return kemi.OK
		}}}
}

// TestForwardPathAsRoute checks that KSR.forward sends a request with a
// Path set along it: its hops as Route headers right below our Via (no
// Route came with it), to the first hop when $du is empty, to $du
// otherwise; the request is the script's again afterwards.
func TestForwardPathAsRoute(t *testing.T) {
	edge, other := newPeer(t), newPeer(t)
	for _, c := range []struct {
		name, du string
		to       *udpPeer
	}{
		{"no $du: the first Path hop", "", edge},
		{"$du wins", fmt.Sprintf("sip:127.0.0.1:%d", other.port()), other},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := fmt.Sprintf("<sip:127.0.0.1:%d;lr>,<sip:core.example.com;lr>", edge.port())
			s := enginetest.Start(t, fmt.Sprintf(`
function ksr_request_route()
	KSR.enginepathtest.set(%q, %q)
	KSR.forward()
	if KSR.hdr.is_present("Route") > 0 then KSR.err("Route left in the request") end
end`, c.du, path), enginetest.WithConfig(func(cfg *engine.Config) {
				cfg.Modules = append(kemi.StandardModules(), "enginepathtest")
			}))
			uac := newPeer(t)
			uac.send(s.UDP(), options(uac, "sip:bob@192.0.2.7", "fwd-path-"+c.name))
			got := c.to.recv(2 * time.Second)
			if got == "" {
				t.Fatalf("nothing forwarded to the expected hop; log:\n%s", s.Logs())
			}
			var names, routes []string
			head, _, _ := strings.Cut(got, "\r\n\r\n")
			for _, l := range strings.Split(head, "\r\n")[1:] {
				n, v, _ := strings.Cut(l, ":")
				names = append(names, n)
				if n == "Route" {
					routes = append(routes, strings.TrimSpace(v))
				}
			}
			want := []string{fmt.Sprintf("<sip:127.0.0.1:%d;lr>", edge.port()), "<sip:core.example.com;lr>"}
			if strings.Join(routes, ",") != strings.Join(want, ",") {
				t.Errorf("Route headers %q, want %q", routes, want)
			}
			if n := strings.Join(names, ","); !strings.HasPrefix(n, "Via,Route,Route,Via,") {
				t.Errorf("header order %s, want our Via, the Path Routes, the caller's Via", n)
			}
			if strings.Contains(s.Logs(), "Route left") {
				t.Errorf("the Path Routes stayed in the script's request")
			}
		})
	}
}
