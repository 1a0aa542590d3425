package luaext_test

import (
	"testing"

	"github.com/kemisip/kemi/kemi"
)

// BenchmarkRoute measures the binding: one route run with a handful of KSR
// calls of each argument and return kind, and the KSR.x.exit unwinding
// most routes end with.
func BenchmarkRoute(b *testing.B) {
	var rec record
	st, _ := newState(b, `
function ksr_request_route()
	if KSR.t.int("10") < 0 then return end
	if not KSR.t.yes() then return end
	local s = KSR.t.str("sip:a@127.0.0.1")
	KSR.t.si(s, 2)
	KSR.x.exit()
end`, &rec)
	m := msg(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := st.Call("ksr_request_route", kemi.RouteRequest, m); err != nil {
			b.Fatal(err)
		}
	}
}
