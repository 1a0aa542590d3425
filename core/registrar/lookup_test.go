package registrar_test

import (
	"strings"
	"testing"

	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/kemi/kemitest"
)

// invite builds an INVITE for uri.
func invite(uri string) string {
	return "INVITE " + uri + " SIP/2.0\n" +
		"Via: SIP/2.0/UDP 192.0.2.30:5060;branch=z9hG4bK-inv\n" +
		"From: <sip:bob@example.com>;tag=b1\nTo: <" + uri + ">\nCall-ID: inv-1\nCSeq: 1 INVITE\nMax-Forwards: 70\n\n"
}

// TestLookup checks where lookup sends a request for alice.
func TestLookup(t *testing.T) {
	tests := []struct {
		name     string
		params   map[string]any
		regs     []string // REGISTER Contact lines, one REGISTER each
		fn       string
		args     []any
		want     int64
		wantRURI string
		wantDU   string
		wantPath string
		wantQ    int
		branches []string // URI|DstURI|Q of each branch
	}{
		{name: "not registered", fn: "lookup", args: []any{"location"}, want: -1, wantRURI: "sip:alice@example.com", wantQ: -1},
		{name: "one contact", regs: []string{"Contact: <sip:alice@192.0.2.10:5062>"}, fn: "lookup", args: []any{"location"},
			want: 1, wantRURI: "sip:alice@192.0.2.10:5062", wantQ: -1},
		{name: "two contacts by q: highest is the R-URI, the other a branch",
			regs: []string{"Contact: <sip:alice@192.0.2.10:5062>;q=0.5", "Contact: <sip:alice@192.0.2.20:5062>;q=1.0"},
			fn:   "lookup", args: []any{"location"}, want: 1, wantRURI: "sip:alice@192.0.2.20:5062", wantQ: 1000,
			branches: []string{"sip:alice@192.0.2.10:5062||500"}},
		{name: "equal q: the older first",
			regs: []string{"Contact: <sip:alice@192.0.2.10:5062>", "Contact: <sip:alice@192.0.2.20:5062>"},
			fn:   "lookup", args: []any{"location"}, want: 1, wantRURI: "sip:alice@192.0.2.10:5062", wantQ: -1,
			branches: []string{"sip:alice@192.0.2.20:5062||-1"}},
		{name: "append_branches 0", params: map[string]any{"append_branches": 0},
			regs: []string{"Contact: <sip:alice@192.0.2.10:5062>", "Contact: <sip:alice@192.0.2.20:5062>"},
			fn:   "lookup", args: []any{"location"}, want: 1, wantRURI: "sip:alice@192.0.2.10:5062", wantQ: -1},
		{name: "received becomes $du",
			regs: []string{`Contact: <sip:alice@10.0.0.5:5062>;received="sip:203.0.113.7:40000"`, `Contact: <sip:alice@10.0.0.6:5062>;received="sip:203.0.113.8:40000"`},
			fn:   "lookup", args: []any{"location"}, want: 1, wantRURI: "sip:alice@10.0.0.5:5062", wantDU: "sip:203.0.113.7:40000", wantQ: -1,
			branches: []string{"sip:alice@10.0.0.6:5062|sip:203.0.113.8:40000|-1"}},
		{name: "Path: first hop is $du, the Path the route set", params: map[string]any{"use_path": 1, "path_mode": 0},
			regs: []string{"Contact: <sip:alice@10.0.0.5:5062>\nPath: <sip:edge.example.net;lr>, <sip:edge2.example.net;lr>"},
			fn:   "lookup", args: []any{"location"}, want: 1, wantRURI: "sip:alice@10.0.0.5:5062", wantDU: "sip:edge.example.net;lr",
			wantPath: "<sip:edge.example.net;lr>, <sip:edge2.example.net;lr>", wantQ: -1},
		{name: "method_filtering: no contact takes INVITE", params: map[string]any{"method_filtering": 1},
			regs: []string{"Contact: <sip:alice@192.0.2.10:5062>;methods=\"MESSAGE\""},
			fn:   "lookup", args: []any{"location"}, want: -2, wantRURI: "sip:alice@example.com", wantQ: -1},
		{name: "method_filtering: the one that takes it", params: map[string]any{"method_filtering": 1},
			regs: []string{"Contact: <sip:alice@192.0.2.10:5062>;methods=\"MESSAGE\"", "Contact: <sip:alice@192.0.2.20:5062>\nAllow: INVITE, ACK"},
			fn:   "lookup", args: []any{"location"}, want: 1, wantRURI: "sip:alice@192.0.2.20:5062", wantQ: -1},
		{name: "lookup_uri", regs: []string{"Contact: <sip:alice@192.0.2.10:5062>"}, fn: "lookup_uri", args: []any{"location", "sip:alice@other.example"},
			want: 1, wantRURI: "sip:alice@192.0.2.10:5062", wantQ: -1},
		{name: "lookup_to_dset keeps the R-URI",
			regs: []string{"Contact: <sip:alice@192.0.2.10:5062>", "Contact: <sip:alice@192.0.2.20:5062>"},
			fn:   "lookup_to_dset", args: []any{"location", ""}, want: 1, wantRURI: "sip:alice@example.com", wantQ: -1,
			branches: []string{"sip:alice@192.0.2.10:5062||-1", "sip:alice@192.0.2.20:5062||-1"}},
		{name: "bad AOR", fn: "lookup_uri", args: []any{"location", "not a uri"}, want: -3, wantRURI: "sip:alice@example.com", wantQ: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t, tt.params)
			for i, c := range tt.regs {
				if ret, res, _ := f.save(t, register("c"+string(rune('a'+i)), 1, c), 0); ret < 0 {
					t.Fatalf("save %d: %v", ret, res)
				}
			}
			m := f.e.Prepare(kemitest.ParseMsg(t, invite("sip:alice@example.com")))
			v := f.e.Call(t, "KSR.registrar."+tt.fn, m, tt.args...)
			if v.Int != tt.want {
				t.Errorf("%s returned %d, want %d\n%s", tt.fn, v.Int, tt.want, f.e.Logs())
			}
			if m.RURI() != tt.wantRURI || m.DstURI != tt.wantDU || m.PathVec != tt.wantPath || m.RURIQ() != tt.wantQ {
				t.Errorf("R-URI %q $du %q path %q q %d, want %q %q %q %d", m.RURI(), m.DstURI, m.PathVec, m.RURIQ(), tt.wantRURI, tt.wantDU, tt.wantPath, tt.wantQ)
			}
			var got []string
			for _, b := range m.Branches {
				got = append(got, b.URI+"|"+b.DstURI+"|"+kemi.Int(b.Q).String())
			}
			if strings.Join(got, " ") != strings.Join(tt.branches, " ") {
				t.Errorf("branches %v, want %v", got, tt.branches)
			}
		})
	}
}

// TestLookupBranches checks that lookup_branches looks up the R-URI and a
// bare branch, each becoming its contact.
func TestLookupBranches(t *testing.T) {
	f := setup(t, nil)
	f.save(t, register("c1", 1, "Contact: <sip:alice@192.0.2.10:5062>"), 0)
	bob := strings.ReplaceAll(register("c2", 1, "Contact: <sip:bob@192.0.2.40:5062>"), "alice@", "bob@")
	f.save(t, bob, 0)
	m := f.e.Prepare(kemitest.ParseMsg(t, invite("sip:alice@example.com")))
	if err := m.AppendBranch(kemi.Branch{URI: "sip:bob@example.com", Q: -1}); err != nil {
		t.Fatal(err)
	}
	if v := f.e.Call(t, "KSR.registrar.lookup_branches", m, "location"); v.Int != 1 {
		t.Fatalf("lookup_branches %d", v.Int)
	}
	if m.RURI() != "sip:alice@192.0.2.10:5062" || len(m.Branches) != 1 || m.Branches[0].URI != "sip:bob@192.0.2.40:5062" {
		t.Errorf("R-URI %s, branches %+v", m.RURI(), m.Branches)
	}
}

// TestRegisteredAndUnregister checks registered*, unregister and
// unregister_ruid, and reg_from_user.
func TestRegisteredAndUnregister(t *testing.T) {
	f := setup(t, nil)
	f.save(t, register("c1", 1, "Contact: <sip:alice@192.0.2.10:5062>"), 0)
	f.save(t, register("c2", 1, "Contact: <sip:alice@192.0.2.20:5062>"), 0)
	m := f.e.Prepare(kemitest.ParseMsg(t, invite("sip:alice@example.com")))
	call := func(name string, args ...any) int64 { return f.e.Call(t, "KSR.registrar."+name, m, args...).Int }
	for _, c := range []struct {
		name string
		args []any
		want int64
	}{
		{"registered", []any{"location"}, 1},
		{"registered_uri", []any{"location", "sip:alice@example.com"}, 1},
		{"registered_uri", []any{"location", "sip:carol@example.com"}, -1},
		{"registered_flags", []any{"location", "sip:alice@example.com", 1}, 1},
		{"registered_action", []any{"location", "sip:alice@example.com", 1, 1}, 1},
		// the INVITE comes from 192.0.2.10:5062 (kemitest's source)
		{"reg_from_user", []any{"location", "sip:alice@example.com", 0}, 1},
		{"reg_from_user", []any{"location", "sip:alice@example.com", 1 | 2}, 1},
		{"reg_from_user", []any{"location", "sip:carol@example.com", 0}, -1},
		{"unregister_ruid", []any{"location", "sip:alice@example.com", "no-such-ruid"}, -3},
		{"lookup_xavp", []any{"location", "sip:alice@example.com", "r", "c"}, -1},
	} {
		if got := call(c.name, c.args...); got != c.want {
			t.Errorf("%s%v = %d, want %d", c.name, c.args, got, c.want)
		}
	}
	ruid := f.loc.all("location", "alice")[0].RUID
	if got := call("unregister_ruid", "location", "sip:alice@example.com", ruid); got != 1 {
		t.Errorf("unregister_ruid = %d", got)
	}
	if got := len(contacts(f)); got != 1 {
		t.Errorf("%d bindings left, want 1", got)
	}
	if got := call("unregister", "location", "sip:alice@example.com"); got != 1 {
		t.Errorf("unregister = %d", got)
	}
	if got := call("registered", "location"); got != -1 {
		t.Errorf("registered after unregister = %d", got)
	}
}

// TestFetchContactsAndULC checks reg_fetch_contacts, $ulc, ulc_cget,
// ulc_rget and reg_free_contacts.
func TestFetchContactsAndULC(t *testing.T) {
	f := setup(t, nil)
	f.save(t, register("c1", 1, "Contact: <sip:alice@192.0.2.10:5062>;q=0.9", "User-Agent: ua1"), 0)
	f.save(t, register("c2", 3, "Contact: <sip:alice@192.0.2.20:5062>;q=0.1"), 0)
	m := f.e.Prepare(kemitest.ParseMsg(t, invite("sip:alice@example.com")))
	if v := f.e.Call(t, "KSR.registrar.reg_fetch_contacts", m, "location", "sip:alice@example.com", "caller"); v.Int != 1 {
		t.Fatalf("reg_fetch_contacts %d", v.Int)
	}
	pv := func(name string) string {
		v, err := f.e.PVs.Get(m, name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return v.String()
	}
	for name, want := range map[string]string{
		"$ulc(caller=>count)":      "2",
		"$ulc(caller=>aor)":        "alice",
		"$ulc(caller=>domain)":     "location",
		"$ulc(caller=>addr)":       "sip:alice@192.0.2.10:5062",
		"$ulc(caller=>addr)[1]":    "sip:alice@192.0.2.20:5062",
		"$ulc(caller=>q)":          "900",
		"$ulc(caller=>cseq)[1]":    "3",
		"$ulc(caller=>callid)[1]":  "c2",
		"$ulc(caller=>user_agent)": "ua1",
		"$ulc(caller=>socket)":     "udp:127.0.0.1:5060",
		"$ulc(caller=>methods)":    "-1",
		"$ulc(caller=>addr)[2]":    "",
		"$ulc(other=>addr)":        "",
	} {
		if got := pv(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if v := f.e.Call(t, "KSR.registrar.ulc_cget", m, "caller", "addr", 1); v.String() != "sip:alice@192.0.2.20:5062" {
		t.Errorf("ulc_cget = %v", v)
	}
	if v := f.e.Call(t, "KSR.registrar.ulc_rget", m, "caller", "count"); v.Int != 2 {
		t.Errorf("ulc_rget count = %v", v)
	}
	if v := f.e.Call(t, "KSR.registrar.ulc_rget", m, "caller", "nope"); v.Kind != kemi.KindInt || v.Int != 0 {
		t.Errorf("ulc_rget nope = %v", v)
	}
	if v := f.e.Call(t, "KSR.registrar.reg_free_contacts", m, "caller"); v.Int != 1 {
		t.Errorf("reg_free_contacts = %d", v.Int)
	}
	if got := pv("$ulc(caller=>count)"); got != "" {
		t.Errorf("count after free = %q", got)
	}
	if _, err := f.e.PVs.Get(m, "$ulc(caller=>bogus)"); err == nil {
		t.Error("$ulc(caller=>bogus) gave no error")
	}
}

// TestQOverrideAndSockHdr checks set_q_override and add_sock_hdr.
func TestQOverrideAndSockHdr(t *testing.T) {
	f := setup(t, nil)
	m := f.e.Prepare(kemitest.ParseMsg(t, register("c1", 1, "Contact: <sip:alice@192.0.2.10:5062>;q=0.1")))
	if v := f.e.Call(t, "KSR.registrar.set_q_override", m, "0.8"); v.Int != 1 {
		t.Fatalf("set_q_override %d", v.Int)
	}
	if v := f.e.Call(t, "KSR.registrar.set_q_override", m, "1.5"); v.Int != -1 {
		t.Errorf("set_q_override(1.5) %d", v.Int)
	}
	if v := f.e.Call(t, "KSR.registrar.add_sock_hdr", m, "X-Sock"); v.Int != 1 {
		t.Fatalf("add_sock_hdr %d", v.Int)
	}
	if h, _ := m.HeaderValue("X-Sock"); h != "udp:127.0.0.1:5060" {
		t.Errorf("X-Sock %q", h)
	}
	if v := f.e.Call(t, "KSR.registrar.save", m, "location", 0); v.Int != 1 {
		t.Fatalf("save %d", v.Int)
	}
	if bs := f.loc.all("location", "alice"); len(bs) != 1 || bs[0].Q != 800 {
		t.Errorf("bindings %+v", bs)
	}
}

// TestExports checks the export table against Kamailio's catalogue.
func TestExports(t *testing.T) {
	f := setup(t, nil)
	f.e.CheckExports(t, "registrar")
}

// TestNoUsrloc checks that registrar without a location table fails its
// functions with a log, and save answers 500.
func TestNoUsrloc(t *testing.T) {
	e := kemitest.Load(t, nil, "registrar")
	defer e.Destroy()
	m := e.Prepare(kemitest.ParseMsg(t, register("c1", 1, "Contact: <sip:alice@192.0.2.10:5062>")))
	if v := e.Call(t, "KSR.registrar.save", m, "location", 0); v.Int != -1 {
		t.Errorf("save %d", v.Int)
	}
	if !strings.Contains(e.Host.Last().Msg, "SIP/2.0 500") || !strings.Contains(e.Logs(), "load the usrloc module") {
		t.Errorf("reply %q\nlogs %s", e.Host.Last().Msg, e.Logs())
	}
	if v := e.Call(t, "KSR.registrar.lookup", m, "location"); v.Int != -3 {
		t.Errorf("lookup %d", v.Int)
	}
}
