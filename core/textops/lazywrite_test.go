package textops_test

import (
	"testing"

	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/kemi/kemitest"
)

// TestHeaderOpsStayLazy runs the header functions of textops on both
// forms of a message: same answers and logs, same reads after, the lazy
// form still lazy and writing the same headers.
func TestHeaderOpsStayLazy(t *testing.T) {
	type op struct {
		fn   string
		args []any
		want kemi.Value
	}
	tests := []struct {
		name string
		ops  []op
	}{
		{"is_present_hf", []op{
			{"KSR.textops.is_present_hf", []any{"User-Agent"}, kemi.OK},
			{"KSR.textops.is_present_hf", []any{"m"}, kemi.OK},
			{"KSR.textops.is_present_hf", []any{"X-None"}, kemi.Fail},
			{"KSR.textops.is_present_hf", []any{"Bad Name"}, kemi.Fail},
			{"KSR.textops.is_present_hf_re", []any{"^X-"}, kemi.OK},
			{"KSR.textops.is_present_hf_re", []any{"^p-.*identity$"}, kemi.OK},
			{"KSR.textops.is_present_hf_re", []any{"^X-None"}, kemi.Fail},
			{"KSR.textops.is_present_hf_re", []any{"(("}, kemi.Fail},
		}},
		{"remove_hf", []op{
			{"KSR.textops.remove_hf", []any{"X-Info"}, kemi.OK},
			{"KSR.textops.remove_hf", []any{"X-None"}, kemi.OK},
			{"KSR.textops.remove_hf", []any{"Bad Name"}, kemi.Fail},
			{"KSR.textops.is_present_hf", []any{"X-Info"}, kemi.Fail},
		}},
		{"remove_hf_re", []op{
			{"KSR.textops.remove_hf_re", []any{"^p-"}, kemi.OK},
			{"KSR.textops.remove_hf_re", []any{"^p-"}, kemi.Fail},
			{"KSR.textops.remove_hf_re", []any{"[bad"}, kemi.Fail},
		}},
		{"remove_hf_exp", []op{
			{"KSR.textops.remove_hf_exp", []any{"^(x-|user-)", "^X-Info$"}, kemi.OK},
			{"KSR.textops.remove_hf_exp", []any{"^X-Info$", "^X-Info$"}, kemi.Fail},
		}},
		{"remove_hf_idx", []op{
			{"KSR.textops.remove_hf_idx", []any{"X-Info", -1}, kemi.OK},
			{"KSR.textops.remove_hf_idx", []any{"X-Info", 3}, kemi.Int(2)},
			{"KSR.textops.remove_hf_idx", []any{"X-Info", 0}, kemi.OK},
			{"KSR.textops.remove_hf_idx", []any{"X-Info", 0}, kemi.Int(2)},
		}},
		{"remove_hf_match", []op{
			{"KSR.textops.remove_hf_match", []any{"X-Info", "eq", "other"}, kemi.OK},
			{"KSR.textops.remove_hf_match", []any{"X-Info", "in", "nothing"}, kemi.Int(-2)},
			{"KSR.textops.remove_hf_match", []any{"X-Info", "re", "^data"}, kemi.OK},
			{"KSR.textops.remove_hf_match", []any{"X-Info", "zz", "x"}, kemi.Fail},
		}},
		{"body", []op{
			{"KSR.textops.has_body", nil, kemi.OK},
			{"KSR.textops.has_body_type", []any{"application/sdp"}, kemi.OK},
			{"KSR.textops.has_body_type", []any{"text/plain"}, kemi.Fail},
			{"KSR.textops.is_audio_on_hold", nil, kemi.Fail},
			{"KSR.textops.set_body", []any{"hello", "text/plain"}, kemi.OK},
			{"KSR.textops.has_body_type", []any{"text/plain"}, kemi.OK},
			{"KSR.textops.set_body", []any{"x", "bad\r\ntype"}, kemi.Fail},
			{"KSR.textops.set_body", []any{"x", ""}, kemi.Fail},
		}},
		{"after KSR.hdr writes", []op{
			{"KSR.hdr.append", []any{"X-Info: added\r\n"}, kemi.OK},
			{"KSR.textops.remove_hf_idx", []any{"X-Info", 1}, kemi.OK},
			{"KSR.hdr.insert", []any{"X-Top: 1\r\n"}, kemi.OK},
			{"KSR.textops.is_present_hf", []any{"X-Top"}, kemi.OK},
			{"KSR.textops.remove_hf_re", []any{"^X-Top$"}, kemi.OK},
		}},
	}
	env := load(t)
	reads := []string{"$rb", "$cl", "$hdr(Content-Type)", "$hdr(X-Info)", "$hdrc(X-Info)", "$hdr(User-Agent)", "$hdrc(P-Asserted-Identity)", "$hdr(X-Top)"}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lazy, eager := env.BothForms(t, invite)
			for _, o := range tc.ops {
				if got := env.CallBoth(t, o.fn, lazy, eager, o.args...); got != o.want {
					t.Errorf("%s%q = %v, want %v", o.fn, o.args, got, o.want)
				}
			}
			for _, pv := range reads {
				env.CallBoth(t, "KSR.pv.get", lazy, eager, pv)
			}
			kemitest.SameWire(t, lazy, eager, true)
		})
	}
}
