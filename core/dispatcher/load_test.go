package dispatcher

import (
	"strings"
	"testing"
	"time"

	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/kemi/kemitest"
)

// loadList is the list the call load tests share: in set 1, c then b then
// a (equal priorities are in reverse file order), a and b take 2 calls.
const loadList = `1 sip:127.0.0.1:5071 0 0 duid=a;maxload=2
1 sip:127.0.0.1:5072 0 0 duid=b;maxload=2
1 sip:127.0.0.1:5073 0 0 duid=c
2 sip:127.0.0.1:5081 0 0
2 sip:127.0.0.1:5082 0 0 x=1
`

// request builds a request of method with callID.
func request(t *testing.T, method, callID string) *kemi.Msg {
	t.Helper()
	return kemitest.ParseMsg(t, method+" sip:bob@example.com SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK1\nFrom: <sip:alice@example.com>;tag=1\nTo: <sip:bob@example.com>\nCall-ID: "+callID+"\nCSeq: 1 "+method+"\nContent-Length: 0\n\n")
}

// records reads $xavp(_dsdst_) through KSR.pv.get as a script would:
// "uri/dstid" for each record, the one in use first.
func records(t *testing.T, env *kemitest.Env, m *kemi.Msg) string {
	t.Helper()
	var out []string
	for i := 0; ; i++ {
		uri := env.Call(t, "KSR.pv.get", m, "$xavp(_dsdst_["+itoa(i)+"]=>uri)")
		if uri.IsNull() {
			return strings.Join(out, " ")
		}
		r := strings.TrimPrefix(uri.Str, "sip:127.0.0.1:")
		if id := env.Call(t, "KSR.pv.get", m, "$xavp(_dsdst_["+itoa(i)+"]=>dstid)"); !id.IsNull() {
			r += "/" + id.Str
		}
		out = append(out, r)
	}
}

// TestCallLoadLikeKamailio replays, request by request, what Kamailio 5.6
// did with the same list, script calls and ds_hash_size set: the records
// in $xavp(_dsdst_), their count in $xavp(_dsctx_=>cnt) and $du.
func TestCallLoadLikeKamailio(t *testing.T) {
	env := load(t, loadList, map[string]any{"ds_hash_size": 4})
	steps := []struct {
		method, callID string
		set, alg       int
		after          string // ds_next_dst, ds_load_update, ds_load_unset
		afterRet       int
		recs           string
		cnt            int
		du             string
	}{
		{"INVITE", "L1", 1, 10, "", 0, "5073/c 5072/b 5071/a", 3, "5073"},
		{"INVITE", "L2", 1, 10, "", 0, "5072/b 5071/a 5073/c", 3, "5072"},
		{"INVITE", "L3", 1, 10, "ds_next_dst", 1, "5073/c 5072/b", 3, "5073"},
		{"INVITE", "L4", 1, 10, "", 0, "5071/a 5073/c 5072/b", 3, "5071"},
		// Not an INVITE: the first destination, no dstid; the BYE frees
		// L1's slot on c.
		{"BYE", "L1", 1, 10, "ds_load_update", 0, "5073 5072 5071", 3, "5073"},
		{"INVITE", "L5", 1, 10, "ds_load_unset", 0, "5073/c 5072/b 5071/a", 3, "5073"},
		{"INVITE", "L6", 1, 10, "", 0, "5073/c 5072/b 5071/a", 3, "5073"},
		{"INVITE", "L7", 1, 10, "", 0, "5072/b 5071/a 5073/c", 3, "5072"},
		// b is full (maxload 2): it is no failover candidate either.
		{"INVITE", "L8", 1, 10, "", 0, "5071/a 5073/c", 2, "5071"},
		{"OPTIONS", "L9", 1, 10, "", 0, "5073 5072 5071", 3, "5073"},
		{"INVITE", "R1", 2, 4, "", 0, "5082 5081", 2, "5082"},
	}
	for _, st := range steps {
		m := request(t, st.method, st.callID)
		if got := env.Call(t, "KSR.dispatcher.ds_select_dst", m, st.set, st.alg).AsInt(); got != 1 {
			t.Fatalf("%s %s: ds_select_dst = %d", st.method, st.callID, got)
		}
		if st.after != "" {
			if got := env.Call(t, "KSR.dispatcher."+st.after, m).AsInt(); got != int64(st.afterRet) {
				t.Errorf("%s %s: %s = %d, want %d", st.method, st.callID, st.after, got, st.afterRet)
			}
		}
		cnt := env.Call(t, "KSR.pv.get", m, "$xavp(_dsctx_=>cnt)")
		if got := records(t, env, m); got != st.recs || cnt != kemi.Int(st.cnt) || m.DstURI != "sip:127.0.0.1:"+st.du {
			t.Errorf("%s %s: records %q cnt %v $du %s; want %q cnt %d $du %s", st.method, st.callID, got, cnt, m.DstURI, st.recs, st.cnt, st.du)
		}
	}
}

// TestSelectionsAccumulate: a second selection puts its records before
// the first one's, as Kamailio does (its run gave these records).
func TestSelectionsAccumulate(t *testing.T) {
	env := load(t, loadList, nil)
	m := request(t, "OPTIONS", "c1")
	env.Call(t, "KSR.dispatcher.ds_select_dst", m, 2, 4)
	if got, attrs := records(t, env, m), env.Call(t, "KSR.pv.get", m, "$xavp(_dsdst_=>attrs)"); got != "5082 5081" || attrs != kemi.Str("x=1") {
		t.Errorf("records %q attrs %v", got, attrs)
	}
	env.Call(t, "KSR.dispatcher.ds_select_dst_limit", m, 1, 8, 2)
	if got := records(t, env, m); got != "5073 5072 5082 5081" || m.DstURI != "sip:127.0.0.1:5073" {
		t.Errorf("records %q $du %s", got, m.DstURI)
	}
	for i, want := range []kemi.Value{kemi.Int(2), kemi.Int(2), kemi.Null} {
		if got := env.Call(t, "KSR.pv.get", m, "$xavp(_dsctx_["+itoa(i)+"]=>cnt)"); got != want {
			t.Errorf("$xavp(_dsctx_[%d]=>cnt) = %v, want %v", i, got, want)
		}
	}
	if grp := env.Call(t, "KSR.pv.get", m, "$xavp(_dsdst_=>grp)"); grp != kemi.Int(1) {
		t.Errorf("grp = %v, want the number 1", grp)
	}
	env.Call(t, "KSR.dispatcher.ds_next_dst", m)
	if got := records(t, env, m); got != "5072 5082 5081" || m.DstURI != "sip:127.0.0.1:5072" {
		t.Errorf("after ds_next_dst: records %q $du %s", got, m.DstURI)
	}
}

// TestXAVPParams checks xavp_dst, xavp_dst_mode and xavp_ctx_mode.
func TestXAVPParams(t *testing.T) {
	for _, tc := range []struct {
		params       map[string]any
		pv           string
		want         kemi.Value
		next, cntNil bool
	}{
		{map[string]any{"xavp_dst_mode": 1}, "$xavp(_dsdst_=>attrs)", kemi.Null, true, false},
		{map[string]any{"xavp_ctx_mode": 1}, "$xavp(_dsdst_=>attrs)", kemi.Str("x=1"), true, true},
		{map[string]any{"xavp_dst": "lb"}, "$xavp(lb=>uri)", kemi.Str("sip:127.0.0.1:5082"), true, false},
		{map[string]any{"xavp_dst": ""}, "$xavp(_dsdst_=>uri)", kemi.Null, false, false},
		{map[string]any{"xavp_ctx": "ctx"}, "$xavp(ctx=>cnt)", kemi.Int(2), true, false},
	} {
		env := load(t, loadList, tc.params)
		m := request(t, "INVITE", "c1")
		if got := env.Call(t, "KSR.dispatcher.ds_select_dst", m, 2, 4).AsInt(); got != 1 {
			t.Fatalf("%v: ds_select_dst = %d", tc.params, got)
		}
		if got := env.Call(t, "KSR.pv.get", m, tc.pv); got != tc.want {
			t.Errorf("%v: %s = %v, want %v", tc.params, tc.pv, got, tc.want)
		}
		if cnt := env.Call(t, "KSR.pv.get", m, "$xavp(_dsctx_=>cnt)"); cnt.IsNull() != tc.cntNil && tc.params["xavp_ctx"] == nil {
			t.Errorf("%v: $xavp(_dsctx_=>cnt) = %v", tc.params, cnt)
		}
		if got := env.Call(t, "KSR.dispatcher.ds_next_dst", m).AsInt() == 1; got != tc.next {
			t.Errorf("%v: ds_next_dst succeeded: %v, want %v", tc.params, got, tc.next)
		}
	}
}

// TestNextSkipsUnknownDstID: a record whose dstid is not in the set any
// more is skipped by ds_next_dst, the call moving to the one after it.
func TestNextSkipsUnknownDstID(t *testing.T) {
	env := load(t, loadList, map[string]any{"ds_hash_size": 1})
	m := request(t, "INVITE", "x1")
	env.Call(t, "KSR.dispatcher.ds_select_dst", m, 1, 10)
	if env.Call(t, "KSR.pv.sets", m, "$xavp(_dsdst_[1]=>dstid[0])", "gone") != kemi.True {
		t.Fatal("cannot change the dstid of the second record")
	}
	if got := env.Call(t, "KSR.dispatcher.ds_next_dst", m).AsInt(); got != 1 || m.DstURI != "sip:127.0.0.1:5071" {
		t.Errorf("ds_next_dst = %d, $du %s; want 1, the third record", got, m.DstURI)
	}
	mod := env.Mods["dispatcher"].(*Module)
	if c, a := mod.load.get(1, "c"), mod.load.get(1, "A"); c != 0 || a != 1 {
		t.Errorf("load c=%d a=%d; want the call moved from c to a", c, a)
	}
	if !strings.Contains(env.Logs(), "skipping destination") {
		t.Errorf("the skipped record was not logged:\n%s", env.Logs())
	}
}

// TestLoadWithoutHashSize: without ds_hash_size algorithm 10 is the
// classic selection, logged, as in Kamailio; ds_load_* do not fail the
// script for an INVITE that has no call load record.
func TestLoadWithoutHashSize(t *testing.T) {
	env := load(t, loadList, nil)
	m := request(t, "INVITE", "n1")
	if got := env.Call(t, "KSR.dispatcher.ds_select_dst", m, 1, 10).AsInt(); got != 1 || records(t, env, m) != "5073 5072 5071" {
		t.Errorf("ds_select_dst = %d, records %q", got, records(t, env, m))
	}
	if !strings.Contains(env.Logs(), "ds_hash_size") {
		t.Errorf("no log about ds_hash_size:\n%s", env.Logs())
	}
	for fn, want := range map[string]int64{"ds_load_unset": 0, "ds_load_update": 0} {
		if got := env.Call(t, "KSR.dispatcher."+fn, m).AsInt(); got != want {
			t.Errorf("%s = %d, want %d", fn, got, want)
		}
	}
	if got := env.Call(t, "KSR.dispatcher.ds_load_unset", request(t, "BYE", "n1")).AsInt(); got != -1 {
		t.Errorf("ds_load_unset of an uncounted call = %d, want -1", got)
	}
}

// TestLoadExpiry: an unanswered call stops counting after
// ds_hash_initexpire, an answered one after ds_hash_expire; a 2xx to the
// INVITE passed to ds_load_update confirms it.
func TestLoadExpiry(t *testing.T) {
	env := load(t, loadList, map[string]any{"ds_hash_size": 2, "ds_hash_expire": 3600, "ds_hash_initexpire": 60})
	mod := env.Mods["dispatcher"].(*Module)
	now := time.Unix(1000, 0)
	mod.load.now = func() time.Time { return now }
	for _, id := range []string{"e1", "e2"} {
		env.Call(t, "KSR.dispatcher.ds_select_dst", request(t, "INVITE", id), 1, 10)
	}
	ok := kemitest.ParseMsg(t, "SIP/2.0 200 OK\nVia: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK1\nFrom: <sip:alice@example.com>;tag=1\nTo: <sip:bob@example.com>;tag=2\nCall-ID: e1\nCSeq: 1 INVITE\nContent-Length: 0\n\n")
	if got := env.Call(t, "KSR.dispatcher.ds_load_update", ok).AsInt(); got != 0 {
		t.Fatalf("ds_load_update(200) = %d", got)
	}
	loads := func() string { return itoa(mod.load.get(1, "c")) + itoa(mod.load.get(1, "b")) }
	if got := loads(); got != "11" {
		t.Fatalf("loads c,b = %s, want 11", got)
	}
	for _, tc := range []struct {
		after time.Duration
		want  string
	}{{59 * time.Second, "11"}, {61 * time.Second, "10"}, {3599 * time.Second, "10"}, {3601 * time.Second, "00"}} {
		now = time.Unix(1000, 0).Add(tc.after)
		mod.load.sweep(mod.sets.Load())
		if got := loads(); got != tc.want {
			t.Errorf("after %v: loads c,b = %s, want %s", tc.after, got, tc.want)
		}
	}
}

// TestLoadExportsAreKamailios: ds_load_update and ds_load_unset have
// Kamailio's parameter and return kinds.
func TestLoadExportsAreKamailios(t *testing.T) {
	env := load(t, loadList, nil)
	for _, name := range []string{"ds_load_update", "ds_load_unset"} {
		x := env.Export(t, "KSR.dispatcher."+name)
		k, ok := kemi.LookupKamailio("dispatcher", name)
		if !ok || x.Signature() != k.Params || x.Return.String() != k.Return {
			t.Errorf("%s: have (%s) %s, Kamailio has (%s) %s (found %v)", name, x.Signature(), x.Return, k.Params, k.Return, ok)
		}
	}
}

// TestUnsetNeedsTheRecord: once ds_next_dst has dropped the last record,
// ds_load_unset on the INVITE does nothing and returns 0, as Kamailio's;
// with the record in use still there it frees the slot.
func TestUnsetNeedsTheRecord(t *testing.T) {
	env := load(t, loadList, map[string]any{"ds_hash_size": 1})
	mod := env.Mods["dispatcher"].(*Module)
	m := request(t, "INVITE", "u1")
	env.Call(t, "KSR.dispatcher.ds_select_dst_limit", m, 1, 10, 1)
	f := m.Copy()
	if got := env.Call(t, "KSR.dispatcher.ds_next_dst", f).AsInt(); got != -1 {
		t.Fatalf("ds_next_dst past the only record = %d", got)
	}
	if got := env.Call(t, "KSR.dispatcher.ds_load_unset", f).AsInt(); got != 0 || mod.load.get(1, "c") != 1 {
		t.Errorf("ds_load_unset without a record = %d, load %d; want 0, still 1", got, mod.load.get(1, "c"))
	}
	if got := env.Call(t, "KSR.dispatcher.ds_load_unset", m.Copy()).AsInt(); got != 0 || mod.load.get(1, "c") != 0 {
		t.Errorf("ds_load_unset with the record = %d, load %d; want 0, 0", got, mod.load.get(1, "c"))
	}
}

// TestMaxloadAttr checks the maxload attribute is read once with the
// list, as Kamailio's str2sint reads it (the last one wins).
func TestMaxloadAttr(t *testing.T) {
	for _, tc := range []struct {
		attrs string
		want  int
	}{
		{"duid=a", 0},
		{"duid=a;maxload=2", 2},
		{"MaxLoad=7;duid=a", 7},
		{"maxload=10x", 10},
		{"maxload=1;maxload=3", 3},
		{"maxload=x", 0},
	} {
		d, err := parseLine("1 sip:127.0.0.1:5071 0 0 " + tc.attrs)
		if err != nil {
			t.Fatalf("%q: %v", tc.attrs, err)
		}
		if d.maxload != tc.want {
			t.Errorf("%q: maxload %d, want %d", tc.attrs, d.maxload, tc.want)
		}
	}
}

// TestAttrNamesWithoutCase: weight, rweight and duid are matched without
// case, as Kamailio's ds_set_attrs matches them.
func TestAttrNamesWithoutCase(t *testing.T) {
	d, err := parseLine("1 sip:127.0.0.1:5071 0 0 Weight=40;RWEIGHT=30;DUID=pbx1")
	if err != nil {
		t.Fatal(err)
	}
	if d.weight != 40 || d.rweight != 30 || d.duid != "pbx1" {
		t.Errorf("weight %d rweight %d duid %q, want 40 30 pbx1", d.weight, d.rweight, d.duid)
	}
}
