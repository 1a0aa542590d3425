package maxfwd_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/kemi/kemitest"

	_ "github.com/kemisip/kemi/core/maxfwd"
)

const head = "INVITE sip:bob@example.com SIP/2.0\n" +
	"Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-1\n" +
	"From: <sip:alice@example.com>;tag=a1\n" +
	"To: <sip:bob@example.com>\n" +
	"Call-ID: mf-1@192.0.2.10\n" +
	"CSeq: 1 INVITE\n"

// msg returns an INVITE with the given extra header lines.
func msg(t *testing.T, extra ...string) *kemi.Msg {
	t.Helper()
	text := head
	for _, e := range extra {
		text += e + "\n"
	}
	return kemitest.ParseMsg(t, text+"\n")
}

// withRawMaxForwards returns an INVITE whose Max-Forwards header holds text
// as it is (sipgo would refuse to parse a non-numeric value).
func withRawMaxForwards(t *testing.T, text string) *kemi.Msg {
	m := msg(t)
	m.Request().AppendHeader(sip.NewHeader("Max-Forwards", text))
	return m
}

func mfValues(m *kemi.Msg) []string { return m.HeaderValues("Max-Forwards") }

func TestProcessMaxfwd(t *testing.T) {
	tests := []struct {
		name     string
		maxLimit int // 0: default
		m        func(t *testing.T) *kemi.Msg
		limit    any
		want     int64
		wantVals []string
	}{
		{"absent adds header", 0, func(t *testing.T) *kemi.Msg { return msg(t) }, 10, 2, []string{"10"}},
		{"absent adds limit 0", 0, func(t *testing.T) *kemi.Msg { return msg(t) }, 0, 2, []string{"0"}},
		{"limit as string", 0, func(t *testing.T) *kemi.Msg { return msg(t) }, "16", 2, []string{"16"}},
		{"decrement", 0, func(t *testing.T) *kemi.Msg { return msg(t, "Max-Forwards: 70") }, 10, 1, []string{"69"}},
		{"decrement to zero", 0, func(t *testing.T) *kemi.Msg { return msg(t, "Max-Forwards: 1") }, 10, 1, []string{"0"}},
		{"zero", 0, func(t *testing.T) *kemi.Msg { return msg(t, "Max-Forwards: 0") }, 10, -1, []string{"0"}},
		{"above default max_limit", 0, func(t *testing.T) *kemi.Msg { return msg(t, "Max-Forwards: 200") }, 10, 1, []string{"70"}},
		{"above max_limit", 20, func(t *testing.T) *kemi.Msg { return msg(t, "Max-Forwards: 100") }, 10, 1, []string{"20"}},
		{"just above max_limit", 20, func(t *testing.T) *kemi.Msg { return msg(t, "Max-Forwards: 21") }, 10, 1, []string{"20"}},
		{"at max_limit", 20, func(t *testing.T) *kemi.Msg { return msg(t, "Max-Forwards: 20") }, 10, 1, []string{"19"}},
		{"only first header", 0, func(t *testing.T) *kemi.Msg { return msg(t, "Max-Forwards: 5", "Max-Forwards: 9") }, 10, 1, []string{"4", "9"}},
		{"raw value with spaces", 0, func(t *testing.T) *kemi.Msg { return withRawMaxForwards(t, " 12 ") }, 10, 1, []string{"11"}},
		{"invalid value", 0, func(t *testing.T) *kemi.Msg { return withRawMaxForwards(t, "abc") }, 10, -2, []string{"abc"}},
		{"too many digits", 0, func(t *testing.T) *kemi.Msg { return withRawMaxForwards(t, "123456") }, 10, -2, []string{"123456"}},
		{"negative value", 0, func(t *testing.T) *kemi.Msg { return withRawMaxForwards(t, "-1") }, 10, -2, []string{"-1"}},
		{"above 65535", 0, func(t *testing.T) *kemi.Msg { return withRawMaxForwards(t, "70000") }, 10, -2, []string{"70000"}},
		{"empty value is zero", 0, func(t *testing.T) *kemi.Msg { return withRawMaxForwards(t, "") }, 10, -1, []string{""}},
		{"limit too big", 0, func(t *testing.T) *kemi.Msg { return msg(t) }, 256, -1, nil},
		{"limit negative", 0, func(t *testing.T) *kemi.Msg { return msg(t, "Max-Forwards: 5") }, -1, -1, []string{"5"}},
		{"limit not a number", 0, func(t *testing.T) *kemi.Msg { return msg(t) }, "ten", 2, []string{"0"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var params map[string]map[string]any
			if tc.maxLimit != 0 {
				params = map[string]map[string]any{"maxfwd": {"max_limit": tc.maxLimit}}
			}
			env := kemitest.Load(t, params, "maxfwd")
			m := tc.m(t)
			v := env.Call(t, "KSR.maxfwd.process_maxfwd", m, tc.limit)
			if v.Kind != kemi.KindInt || v.Int != tc.want {
				t.Fatalf("process_maxfwd = %+v, want %d", v, tc.want)
			}
			if got := mfValues(m); strings.Join(got, "|") != strings.Join(tc.wantVals, "|") {
				t.Fatalf("Max-Forwards = %q, want %q", got, tc.wantVals)
			}
		})
	}
}

func TestProcessMaxfwdMessage(t *testing.T) {
	env := kemitest.Load(t, nil, "maxfwd")

	// an added header goes first, and sipgo's shortcut sees it
	m := msg(t)
	if v := env.Call(t, "KSR.maxfwd.process_maxfwd", m, 10); v.Int != 2 {
		t.Fatalf("process_maxfwd = %d, want 2", v.Int)
	}
	if h := m.HeaderList()[0]; h.Name() != "Max-Forwards" || h.Value() != "10" {
		t.Fatalf("first header = %s: %s", h.Name(), h.Value())
	}
	if mf := m.Request().MaxForwards(); mf == nil || mf.Val() != 10 {
		t.Fatalf("MaxForwards() = %v", mf)
	}

	// a decremented value is what goes out, in place
	m = msg(t, "Max-Forwards: 3", "Subject: x")
	clone := m.Request().Clone()
	for want := 2; want >= 0; want-- {
		if v := env.Call(t, "KSR.maxfwd.process_maxfwd", m, 10); v.Int != 1 {
			t.Fatalf("process_maxfwd = %d, want 1", v.Int)
		}
		if mf := m.Request().MaxForwards(); mf == nil || int(mf.Val()) != want {
			t.Fatalf("MaxForwards() = %v, want %d", mf, want)
		}
	}
	if v := env.Call(t, "KSR.maxfwd.process_maxfwd", m, 10); v.Int != -1 {
		t.Fatalf("process_maxfwd at 0 = %d, want -1", v.Int)
	}
	out := m.Request().String()
	if !strings.Contains(out, "\r\nMax-Forwards: 0\r\nSubject: x\r\n") {
		t.Fatalf("serialized message lacks the new value in place:\n%s", out)
	}
	// a clone taken before (sipgo shares Max-Forwards between clones) is
	// left alone
	if mf := clone.MaxForwards(); mf == nil || mf.Val() != 3 {
		t.Fatalf("clone MaxForwards() = %v, want 3", mf)
	}

	// a reply is refused
	r := kemitest.ParseMsg(t, "SIP/2.0 200 OK\n"+
		"Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-1\n"+
		"From: <sip:alice@example.com>;tag=a1\n"+
		"To: <sip:bob@example.com>;tag=b1\n"+
		"Call-ID: mf-1@192.0.2.10\n"+
		"CSeq: 1 INVITE\n\n")
	if v := env.Call(t, "KSR.maxfwd.process_maxfwd", r, 10); v.Int != -2 {
		t.Fatalf("process_maxfwd on a reply = %d, want -2", v.Int)
	}
	if r.HasHeader("Max-Forwards") {
		t.Fatal("Max-Forwards added to a reply")
	}
}

func TestIsMaxfwdLt(t *testing.T) {
	tests := []struct {
		name  string
		m     func(t *testing.T) *kemi.Msg
		limit any
		want  int64
	}{
		{"lower", func(t *testing.T) *kemi.Msg { return msg(t, "Max-Forwards: 5") }, 10, 1},
		{"equal", func(t *testing.T) *kemi.Msg { return msg(t, "Max-Forwards: 5") }, 5, -1},
		{"greater", func(t *testing.T) *kemi.Msg { return msg(t, "Max-Forwards: 5") }, 3, -1},
		{"zero below one", func(t *testing.T) *kemi.Msg { return msg(t, "Max-Forwards: 0") }, 1, 1},
		{"limit as string", func(t *testing.T) *kemi.Msg { return msg(t, "Max-Forwards: 5") }, "6", 1},
		{"missing", func(t *testing.T) *kemi.Msg { return msg(t) }, 10, -2},
		{"invalid", func(t *testing.T) *kemi.Msg { return withRawMaxForwards(t, "x1") }, 10, -3},
		{"limit too big", func(t *testing.T) *kemi.Msg { return msg(t, "Max-Forwards: 5") }, 300, -1},
		{"limit negative", func(t *testing.T) *kemi.Msg { return msg(t, "Max-Forwards: 5") }, -4, -1},
	}
	env := kemitest.Load(t, nil, "maxfwd")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.m(t)
			before := strings.Join(mfValues(m), "|")
			v := env.Call(t, "KSR.maxfwd.is_maxfwd_lt", m, tc.limit)
			if v.Kind != kemi.KindInt || v.Int != tc.want {
				t.Fatalf("is_maxfwd_lt = %+v, want %d", v, tc.want)
			}
			if after := strings.Join(mfValues(m), "|"); after != before {
				t.Fatalf("is_maxfwd_lt changed Max-Forwards from %q to %q", before, after)
			}
		})
	}

	// a header added by process_maxfwd counts
	m := msg(t)
	env.Call(t, "KSR.maxfwd.process_maxfwd", m, 2)
	if v := env.Call(t, "KSR.maxfwd.is_maxfwd_lt", m, 3); v.Int != 1 {
		t.Fatalf("is_maxfwd_lt after add = %d, want 1", v.Int)
	}
}

func TestMaxLimitParam(t *testing.T) {
	for _, bad := range []any{-1, 256, "many"} {
		if _, err := kemitest.LoadErr(map[string]map[string]any{"maxfwd": {"max_limit": bad}}, "maxfwd"); err == nil {
			t.Errorf("max_limit %v accepted", bad)
		}
	}
	if _, err := kemitest.LoadErr(map[string]map[string]any{"maxfwd": {"max_limit": "32"}}, "maxfwd"); err != nil {
		t.Errorf("max_limit \"32\": %v", err)
	}
	if _, err := kemitest.LoadErr(map[string]map[string]any{"maxfwd": {"bogus": 1}}, "maxfwd"); err == nil {
		t.Error("unknown parameter accepted")
	}
}

func TestMetrics(t *testing.T) {
	env := kemitest.Load(t, map[string]map[string]any{"maxfwd": {"max_limit": 20}}, "maxfwd")
	env.Call(t, "KSR.maxfwd.process_maxfwd", msg(t), 10)
	env.Call(t, "KSR.maxfwd.process_maxfwd", msg(t, "Max-Forwards: 0"), 10)
	env.Call(t, "KSR.maxfwd.process_maxfwd", msg(t, "Max-Forwards: 0"), 10)
	env.Call(t, "KSR.maxfwd.process_maxfwd", msg(t, "Max-Forwards: 50"), 10)
	env.Call(t, "KSR.maxfwd.process_maxfwd", withRawMaxForwards(t, "bad"), 10)
	env.Call(t, "KSR.maxfwd.is_maxfwd_lt", withRawMaxForwards(t, "bad"), 10)
	var buf bytes.Buffer
	env.Metrics.WritePrometheus(&buf)
	for _, want := range []string{
		"kemi_maxfwd_added_total 1\n",
		"kemi_maxfwd_exceeded_total 2\n",
		"kemi_maxfwd_capped_total 1\n",
		"kemi_maxfwd_invalid_total 2\n",
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, buf.String())
		}
	}
}

// TestExportsMatchKamailio checks the exports against Kamailio's catalogue.
func TestExportsMatchKamailio(t *testing.T) {
	kemitest.Load(t, nil, "maxfwd").CheckExports(t, "maxfwd")
}

// TestCoreMaxForwards: what core forwarding and tm do with Max-Forwards
// (kemi.Msg.ProxyMaxForwards), depending on what the script did.
func TestCoreMaxForwards(t *testing.T) {
	env := kemitest.Load(t, nil, "maxfwd")
	tests := []struct {
		name      string
		mf        string // Max-Forwards line received, "" for none
		script    func(m *kemi.Msg)
		value     uint32
		apply     bool
		exhausted bool
	}{
		{"decremented", "Max-Forwards: 70", nil, 69, true, false},
		{"added when absent", "", nil, 70, true, false},
		{"refused at 0", "Max-Forwards: 0", nil, 0, true, true},
		{"white space and case", "max-forwards:   5  ", nil, 4, true, false},
		// what the sender writes cannot make the value look changed by the
		// script (and so not decremented: a loop would never end)
		{"folded value", "Max-Forwards:\n 5", nil, 4, true, false},
		{"a continuation line that reads as Max-Forwards", "Subject: x\n Max-Forwards: 3\nMax-Forwards: 70", nil, 69, true, false},
		{"two headers: the first counts", "Max-Forwards: 5\nMax-Forwards: 9", nil, 4, true, false},
		{"two headers, the first 0", "Max-Forwards: 0\nMax-Forwards: 9", nil, 0, true, true},
		{"process_maxfwd ran", "Max-Forwards: 70", func(m *kemi.Msg) {
			env.Call(t, "KSR.maxfwd.process_maxfwd", m, 10)
		}, 0, false, false},
		{"process_maxfwd at 0", "Max-Forwards: 0", func(m *kemi.Msg) {
			env.Call(t, "KSR.maxfwd.process_maxfwd", m, 10)
		}, 0, false, false},
		{"changed by the script", "Max-Forwards: 70", func(m *kemi.Msg) {
			kemi.SetMaxForwards(m.Request(), 5)
		}, 0, false, false},
		{"removed by the script", "Max-Forwards: 70", func(m *kemi.Msg) {
			m.RemoveHeaders("Max-Forwards")
		}, 0, false, false},
		{"added by the script", "", func(m *kemi.Msg) {
			kemi.SetMaxForwards(m.Request(), 3)
		}, 0, false, false},
		{"set to the same value", "Max-Forwards: 70", func(m *kemi.Msg) {
			kemi.SetMaxForwards(m.Request(), 70)
		}, 69, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var m *kemi.Msg
			if tc.mf == "" {
				m = msg(t)
			} else {
				m = msg(t, tc.mf)
			}
			if tc.script != nil {
				tc.script(m)
			}
			v, apply, exhausted := m.ProxyMaxForwards()
			if v != tc.value || apply != tc.apply || exhausted != tc.exhausted {
				t.Errorf("ProxyMaxForwards() = %d, %v, %v; want %d, %v, %v", v, apply, exhausted, tc.value, tc.apply, tc.exhausted)
			}
		})
	}
}
