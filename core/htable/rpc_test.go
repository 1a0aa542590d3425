package htable_test

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kemisip/kemi/engine/enginetest"
	"github.com/kemisip/kemi/internal/redistest"
	"github.com/kemisip/kemi/kemi"
)

// rpcScript shows what the script reads: t=>k, t=>s, t=>extra, m=>k.
const rpcScript = `
function ksr_request_route()
	local vals = {}
	for _, k in ipairs({"k", "s", "extra"}) do
		vals[#vals + 1] = tostring(KSR.htable.sht_get("t", k))
	end
	vals[#vals + 1] = tostring(KSR.htable.sht_get("m", "k"))
	KSR.hdr.append_to_reply("X-Vals: " .. table.concat(vals, "|") .. "\r\n")
	KSR.sl.sl_send_reply(200, "OK")
end
`

// startRPC runs rpcScript with table t loaded from a SQLite file (as
// seed fills it) and table m in memory only.
func startRPC(t *testing.T) (*enginetest.Server, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ht.db")
	seed(t, path)
	s := enginetest.Start(t, rpcScript, enginetest.WithParams("htable", map[string]any{
		"db_url": "sqlite://" + path,
		"htable": []any{"t=>size=4;autoexpire=300;dbtable=htable", "m=>size=3"},
	}))
	return s, path
}

// wantVals checks what the script reads now.
func wantVals(t *testing.T, s *enginetest.Server, want string) {
	t.Helper()
	got, err := vals(s.UDP(), 2*time.Second)
	if err != nil || got != want {
		t.Errorf("the script reads %q (%v), want %q", got, err, want)
	}
}

func wantRPCError(t *testing.T, s *enginetest.Server, code int, msg string, method string, params ...any) {
	t.Helper()
	res, rerr := s.RPC(method, params...)
	if rerr == nil || rerr.Code != code || !strings.HasPrefix(rerr.Message, msg) {
		t.Errorf("%s %v = %s %+v, want error %d %q", method, params, res, rerr, code, msg)
	}
}

// TestRPCSetGetDelete: what htable.sets, seti and delete do, the script
// reads at once; htable.get answers as Kamailio.
func TestRPCSetGetDelete(t *testing.T) {
	s, _ := startRPC(t)
	wantVals(t, s, "nil|str|nil|nil")
	if got := s.RPCResult("htable.sets", "t", "k", "hello"); got != `"Ok. Key set to new value."` {
		t.Errorf("htable.sets = %s", got)
	}
	if got := s.RPCResult("htable.seti", "m", "k", 42); got != `"Ok. Key set to new value."` {
		t.Errorf("htable.seti = %s", got)
	}
	s.RPCResult("htable.seti", "m", "j", "-7") // kamcmd sends numbers as strings too
	wantVals(t, s, "hello|str|nil|42")

	if got := s.RPCResult("htable.get", "m", "k"); got != `{"item":{"name":"k","value":42,"flags":0,"expire":"NEVER"}}` {
		t.Errorf("htable.get m k = %s", got)
	}
	if got := s.RPCResult("htable.get", "m", "j"); got != `{"item":{"name":"j","value":-7,"flags":0,"expire":"NEVER"}}` {
		t.Errorf("htable.get m j = %s", got)
	}
	// t has autoexpire: the item ends 300 s after it was set, local time
	got := s.RPCResult("htable.get", "t", "k")
	if !regexp.MustCompile(`^\{"item":\{"name":"k","value":"hello","flags":2,"expire":"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"\}\}$`).MatchString(got) {
		t.Errorf("htable.get t k = %s", got)
	}

	if got := s.RPCResult("htable.delete", "t", "k"); got != `"Ok. Key deleted."` {
		t.Errorf("htable.delete = %s", got)
	}
	wantVals(t, s, "nil|str|nil|42")

	for _, c := range []struct {
		code   int
		msg    string
		method string
		params []any
	}{
		{404, "Key not found in htable.", "htable.delete", []any{"t", "k"}},
		{500, "No such htable", "htable.delete", []any{"nosuch", "k"}},
		{500, "Not enough parameters (htable name & key name)", "htable.delete", []any{"t"}},
		{500, "Key name doesn't exist in htable.", "htable.get", []any{"t", "k"}},
		{500, "No such htable", "htable.get", []any{"nosuch", "k"}},
		{500, "Not enough parameters (htable name and key name)", "htable.get", nil},
		{500, "Not enough parameters (htable name, key name and value)", "htable.sets", []any{"t", "k"}},
		{kemi.RPCInvalidParams, "parameter 3 is not an integer", "htable.seti", []any{"t", "k", "x"}},
		{kemi.RPCInvalidParams, "parameter 2 is not a string", "htable.sets", []any{"t", []int{1}, "v"}},
		{500, "No such htable", "htable.dump", []any{"nosuch"}},
		{500, "No htable name given", "htable.dump", nil},
		{500, "No htable name given", "htable.reload", nil},
	} {
		wantRPCError(t, s, c.code, c.msg, c.method, c.params...)
	}
}

// TestRPCDumpAndStats: htable.dump lists the items by slot; stats and
// listTables describe every table.
func TestRPCDumpAndStats(t *testing.T) {
	s, _ := startRPC(t)
	s.RPCResult("htable.sets", "m", "b", "x")
	s.RPCResult("htable.seti", "m", "a", 1)
	var slots []struct {
		Entry, Size int
		Slot        []map[string]any
	}
	got := s.RPCResult("htable.dump", "m")
	items := map[string]any{}
	if err := json.Unmarshal([]byte(got), &slots); err != nil {
		t.Fatalf("htable.dump m = %s: %v", got, err)
	}
	for _, sl := range slots {
		if sl.Size != len(sl.Slot) || sl.Entry < 0 || sl.Entry >= 8 {
			t.Errorf("htable.dump m: slot %+v", sl)
		}
		for _, it := range sl.Slot {
			items[it["name"].(string)] = it["value"]
			items[it["name"].(string)+".type"] = it["type"]
		}
	}
	if want := map[string]any{"a": 1.0, "a.type": "int", "b": "x", "b.type": "str"}; !reflect.DeepEqual(items, want) {
		t.Errorf("htable.dump m = %s, want the items %v", got, want)
	}
	// t: the seeded rows, spread over 16 slots
	got = s.RPCResult("htable.dump", "t")
	for _, item := range []string{`{"name":"s","value":"str","type":"str"}`, `{"name":"i","value":-3,"type":"int"}`, `{"name":"gw::size","value":2,"type":"int"}`} {
		if !strings.Contains(got, item) {
			t.Errorf("htable.dump t lacks %s: %s", item, got)
		}
	}
	if got := s.RPCResult("htable.listTables"); got != `[{"name":"m","dbtable":"","dbmode":0,"expire":0,"updateexpire":1,"size":8,"dmqreplicate":0},{"name":"t","dbtable":"htable","dbmode":0,"expire":300,"updateexpire":1,"size":16,"dmqreplicate":0}]` {
		t.Errorf("htable.listTables = %s", got)
	}
	got = s.RPCResult("htable.stats")
	if !strings.HasPrefix(got, `[{"name":"m","slots":8,"all":2,"min":0,"max":`) || !strings.Contains(got, `{"name":"t","slots":16,"all":6,"min":0,"max":`) {
		t.Errorf("htable.stats = %s", got)
	}
}

// TestRPCReload: htable.reload replaces the items with the database's,
// all or nothing.
func TestRPCReload(t *testing.T) {
	s, path := startRPC(t)
	s.RPCResult("htable.sets", "t", "extra", "rpc")
	wantVals(t, s, "nil|str|rpc|nil")
	sqlite(t, path, `UPDATE htable SET key_value = 'new' WHERE key_name = 's'`)
	if got := s.RPCResult("htable.reload", "t"); got != `"Ok. Htable reloaded."` {
		t.Errorf("htable.reload = %s", got)
	}
	wantVals(t, s, "nil|new|nil|nil") // the item set over RPC is not in the database

	// a row that does not load: the table stays as it was
	s.RPCResult("htable.sets", "t", "extra", "kept")
	sqlite(t, path, `INSERT INTO htable (key_name, key_type, value_type, key_value) VALUES ('bad', 0, 1, 'x')`)
	wantRPCError(t, s, 500, "Htable reload failed: ", "htable.reload", "t")
	wantVals(t, s, "nil|new|kept|nil")
	if !strings.Contains(s.Logs(), `not an integer`) {
		t.Error("the failed reload is not logged with its cause")
	}
	// a table without dbtable has nothing to reload
	wantRPCError(t, s, 500, "Htable reload failed: ", "htable.reload", "m")
}

// TestRPCReloadWithoutDB: with no database, reload fails as Kamailio's.
func TestRPCReloadWithoutDB(t *testing.T) {
	s := enginetest.Start(t, rpcScript, enginetest.WithParams("htable", map[string]any{"htable": "m=>size=2"}))
	wantRPCError(t, s, 500, "No htable db_url", "htable.reload", "m")
}

// TestRPCSharedTable: on a table kept in Redis, what htable.sets does on
// one engine the other's script and htable.get see; htable.delete on that
// one removes it for both; htable.reload refuses a table Redis keeps.
func TestRPCSharedTable(t *testing.T) {
	url, _ := redistest.Start(t)
	a, b := startShared(t, url), startShared(t, url)
	if got := a.RPCResult("htable.sets", "s", "from", "rpc"); got != `"Ok. Key set to new value."` {
		t.Fatalf("htable.sets = %s", got)
	}
	if got := ask(t, b, "get"); !strings.HasPrefix(got, "0|rpc|") {
		t.Errorf("engine b's script reads %q, want the item engine a's RPC set (0|rpc|...)", got)
	}
	got := b.RPCResult("htable.get", "s", "from")
	if !regexp.MustCompile(`^\{"item":\{"name":"from","value":"rpc","flags":2,"expire":"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"\}\}$`).MatchString(got) {
		t.Errorf("htable.get on engine b = %s", got)
	}
	if got := b.RPCResult("htable.dump", "s"); !strings.Contains(got, `{"name":"from","value":"rpc","type":"str"}`) {
		t.Errorf("htable.dump on engine b = %s", got)
	}
	if got := b.RPCResult("htable.delete", "s", "from"); got != `"Ok. Key deleted."` {
		t.Errorf("htable.delete = %s", got)
	}
	if got := ask(t, a, "get"); !strings.HasPrefix(got, "0|0|") {
		t.Errorf("engine a's script reads %q after the delete, want the initval (0|0|...)", got)
	}
	wantRPCError(t, a, 500, "Htable reload failed: the table is kept in Redis", "htable.reload", "s")
	if got := a.RPCResult("htable.reload", "d"); got != `"Ok. Htable reloaded."` {
		t.Errorf("htable.reload of a dbtable in Redis = %s", got)
	}
}
