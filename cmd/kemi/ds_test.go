package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/kemisip/kemi/engine"
	"github.com/kemisip/kemi/engine/enginetest"
)

// kamailioDSListPlain is Kamailio 5.6's dispatcher.list reply for the
// list of kamailioDSList, without latency statistics.
const kamailioDSListPlain = `{"NRSETS":2,"RECORDS":[{"SET":{"ID":2,"TARGETS":[{"DEST":{"URI":"sip:127.0.0.1:5093","FLAGS":"AX","PRIORITY":0}}]}},
{"SET":{"ID":1,"TARGETS":[{"DEST":{"URI":"sip:127.0.0.1:5092","FLAGS":"AP","PRIORITY":5}},
{"DEST":{"URI":"sip:127.0.0.1:5091","FLAGS":"AX","PRIORITY":0,"ATTRS":{"BODY":"duid=abc;weight=50","DUID":"abc","MAXLOAD":0,"WEIGHT":50,"RWEIGHT":0,"SOCKET":null,"SOCKNAME":null,"OBPROXY":null}}}]}}]}`

// destsBySet flattens a dispatcher.list reply to "set uri" -> destination.
func destsBySet(t *testing.T, reply string) map[string]dsDest {
	t.Helper()
	var r dsListReply
	if err := json.Unmarshal([]byte(reply), &r); err != nil {
		t.Fatalf("dispatcher.list reply %q: %v", reply, err)
	}
	out := map[string]dsDest{}
	for _, s := range r.RECORDS {
		for _, d := range s.SET.TARGETS {
			out[fmt.Sprintf("%d %s", s.SET.ID, d.DEST.URI)] = d.DEST
		}
	}
	if len(r.RECORDS) != r.NRSETS {
		t.Errorf("NRSETS %d, but %d records", r.NRSETS, len(r.RECORDS))
	}
	return out
}

// TestDSListEndToEnd runs kemi ds list against an engine with the real
// dispatcher module and the list Kamailio answered kamailioDSListPlain
// for: the same destinations, flags, priorities and attributes.
func TestDSListEndToEnd(t *testing.T) {
	dir := t.TempDir()
	list := writeFile(t, dir, "dispatcher.list", "1 sip:127.0.0.1:5091 0 0 duid=abc;weight=50\n1 sip:127.0.0.1:5092 8 5\n2 sip:127.0.0.1:5093 0 0\n")
	s := enginetest.Start(t, "function ksr_request_route() end",
		enginetest.WithParams("dispatcher", map[string]any{"list_file": list}),
		enginetest.WithConfig(func(c *engine.Config) { c.CtlSocket = filepath.Join(dir, "ctl.sock") }))
	code, out, errOut := runCLI(t, "ds", "list", "--socket", s.CtlAddr(), "--json")
	if code != 0 {
		t.Fatalf("kemi ds list --json = %d %q", code, errOut)
	}
	got, want := destsBySet(t, out), destsBySet(t, kamailioDSListPlain)
	if len(got) != len(want) {
		t.Fatalf("destinations %v, want %v", keys(got), keys(want))
	}
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("no destination %s", k)
			continue
		}
		if g.FLAGS != w.FLAGS || g.PRIORITY != w.PRIORITY || (g.ATTRS == nil) != (w.ATTRS == nil) || g.ATTRS != nil && g.ATTRS.BODY != w.ATTRS.BODY {
			t.Errorf("%s: kemi %+v, Kamailio %+v", k, g, w)
		}
	}

	code, out, errOut = runCLI(t, "ds", "list", "--socket", s.CtlAddr())
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 4 || !strings.HasPrefix(lines[0], "SET ") || !strings.HasPrefix(lines[3], "2 ") || !strings.Contains(out, "duid=abc;weight=50") {
		t.Errorf("kemi ds list = %d %q %q", code, out, errOut)
	}
}

func keys(m map[string]dsDest) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
