package htable

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/kemi/kemitest"
)

func TestExportsMatchKamailio(t *testing.T) {
	e, _, _ := load(t)
	e.CheckExports(t, "htable")
}

func TestLoadRefusesMalformedDefinition(t *testing.T) {
	tests := []struct {
		params  map[string]any
		wantErr string
	}{
		{map[string]any{"htable": "ipban=>size=eight"}, "ipban=>size=eight"},
		{map[string]any{"htable": []any{"a=>size=4", "a=>size=8"}}, `table "a" defined twice`},
		{map[string]any{"htable": "t=>cols='key_name,key_value'"}, "cols is not yet supported"},
		{map[string]any{"htable": "t=>dbtable=htable", "db_url": "redis://127.0.0.1:1/0"}, "dbtable: db: redis://127.0.0.1:1/0"},
		{map[string]any{"htable": "t=>dbtable=htable", "db_url": "redis://127.0.0.1:1?addr=127.0.0.1:2"}, "Redis Cluster"},
		{map[string]any{"htable": "t=>redis=1", "db_url": "sqlite://x.db"}, "not a Redis server"},
		{map[string]any{"htable": "t=>redis=1", "db_url": "redis://127.0.0.1:1?addr=127.0.0.1:2"}, "Redis Cluster"},
		{map[string]any{"htable": "t=>redis=1", "db_url": "redis://127.0.0.1:1/0"}, "tables with redis=1: db: redis://127.0.0.1:1/0"},
		{map[string]any{"htable": "t=>redis=1;dbtable=htable", "db_url": "redis://127.0.0.1:1/0"}, "redis=1 and dbtable"},
		{map[string]any{"htable": "a:b=>redis=1", "db_url": "redis://127.0.0.1:1/0"}, "needs a name of letters"},
		{map[string]any{"htable": "t=>redis=yes", "db_url": "redis://127.0.0.1:1/0"}, "redis=\"yes\""},
		{map[string]any{"htable": "t=>dbtable=htable", "db_url": "mysql://x"}, "unknown database kind"},
		{map[string]any{"htable": "t=>dbtable=htable", "db_url": "memory", "key_value_column": "v"}, "key_value_column is not yet supported"},
		{map[string]any{"htable": "t=>", "enable_dmq": 1}, "enable_dmq is not yet supported"},
		{map[string]any{"htable": "t=>", "timer_interval": 0}, "timer_interval"},
		{map[string]any{"htable": "t=>", "colour": 1}, "unknown parameter colour"},
	}
	for _, tt := range tests {
		_, err := kemitest.LoadErr(map[string]map[string]any{"htable": tt.params}, "htable")
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("load with %v: error %v; want one with %q", tt.params, err, tt.wantErr)
		}
	}
}

// TestConcurrentIncLosesNothing increments one key from many workers at
// once: every increment counts.
func TestConcurrentIncLosesNothing(t *testing.T) {
	e, mod, _ := load(t, "ipban=>size=2;initval=0")
	const workers, each = 16, 500
	var wg sync.WaitGroup
	incAll(t, &wg, e, workers, each, "ipban", "192.0.2.1", "other")
	wg.Wait()
	m := msg(t, e)
	if got := mod.tables["ipban"].read(m.Proc, "192.0.2.1"); got != kemi.Int(workers*each) {
		t.Errorf("after %d increments the item is %v", workers*each, got)
	}
	if got := e.Call(t, "KSR.htable.sht_inc", m, "ipban", "other"); got != kemi.Int(workers*each+1) {
		t.Errorf("sht_inc gave %v, want %d", got, workers*each+1)
	}
}

// TestLockExcludesOtherWorkers checks sht_lock: another worker's sht_inc
// on the same key waits until sht_unlock; the holder's own calls go on.
func TestLockExcludesOtherWorkers(t *testing.T) {
	e, mod, _ := load(t, "t=>initval=0")
	a, b := msg(t, e), msg(t, e)
	if got := e.Call(t, "KSR.htable.sht_lock", a, "t", "k"); got != kemi.OK {
		t.Fatalf("sht_lock = %v", got)
	}
	if got := e.Call(t, "KSR.htable.sht_lock", a, "t", "k"); got != kemi.OK {
		t.Fatalf("recursive sht_lock = %v", got)
	}
	if got := e.Call(t, "KSR.htable.sht_inc", a, "t", "k"); got != kemi.Int(1) {
		t.Fatalf("holder's sht_inc = %v", got)
	}
	unlock := func() { e.Call(t, "KSR.htable.sht_unlock", a, "t", "k") }
	if v := waitsFor(t, e, b, "KSR.htable.sht_inc", []string{"t", "k"}, unlock); v != kemi.Int(2) {
		t.Errorf("other worker's sht_inc = %v, want 2", v)
	}
	if got := mod.tables["t"].read(b.Proc, "k"); got != kemi.Int(2) {
		t.Errorf("item = %v", got)
	}
}

// TestAutoexpire checks that items expire (read as missing at once,
// removed by the timer pass) and that updateexpire renews them.
func TestAutoexpire(t *testing.T) {
	e, mod, c := load(t, "ipban=>autoexpire=300;initval=0;updateexpire=1", "keep=>autoexpire=300;updateexpire=0", "plain=>")
	m := msg(t, e)
	call := func(fn string, args ...any) kemi.Value { t.Helper(); return e.Call(t, "KSR.htable."+fn, m, args...) }
	call("sht_inc", "ipban", "a")
	call("sht_sets", "keep", "k", "v")
	call("sht_sets", "plain", "p", "v")
	call("sht_setxs", "keep", "short", "v", 10)
	c.t = c.t.Add(200 * time.Second)
	call("sht_inc", "ipban", "a") // renews: 300 s from now
	call("sht_sets", "keep", "k", "w")
	c.t = c.t.Add(150 * time.Second)
	if got := call("sht_get", "ipban", "a"); got != kemi.Int(2) {
		t.Errorf("renewed item = %v, want 2", got)
	}
	if got := call("sht_get", "keep", "k"); !got.IsNull() {
		t.Errorf("item of an updateexpire=0 table after 350 s = %v, want nil", got)
	}
	if got := call("sht_get", "keep", "short"); !got.IsNull() {
		t.Errorf("item set to expire in 10 s = %v, want nil", got)
	}
	if n := mod.tables["keep"].count(m.Proc); n != 2 {
		t.Errorf("before the timer pass %d items, want 2 (still held)", n)
	}
	mod.expire(nil)
	if n := mod.tables["keep"].count(m.Proc); n != 0 {
		t.Errorf("after the timer pass %d items, want 0", n)
	}
	if n := mod.tables["ipban"].count(m.Proc); n != 1 {
		t.Errorf("live item removed: %d items", n)
	}
	c.t = c.t.Add(24 * time.Hour)
	mod.expire(nil)
	if got := call("sht_get", "plain", "p"); got != kemi.Str("v") {
		t.Errorf("item of a table without autoexpire = %v", got)
	}
	if got := call("sht_inc", "ipban", "a"); got != kemi.Int(1) {
		t.Errorf("sht_inc of an expired item = %v, want initval+1", got)
	}
}

// TestExpiryBoundsMemory fills a table with many keys, lets them expire
// and checks that the timer pass frees them all.
func TestExpiryBoundsMemory(t *testing.T) {
	e, mod, c := load(t, "flood=>size=10;autoexpire=60;initval=0")
	m := msg(t, e)
	inc := e.Export(t, "KSR.htable.sht_inc")
	for i := 0; i < 20000; i++ {
		inc.Func(m, kemi.MakeArgs("flood", "10.0."+itoa(i/256)+"."+itoa(i%256)))
	}
	c.t = c.t.Add(61 * time.Second)
	mod.expire(nil)
	if n := mod.tables["flood"].count(m.Proc); n != 0 {
		t.Errorf("%d items left after expiry", n)
	}
}

func itoa(i int) string { return kemi.Int(i).String() }
