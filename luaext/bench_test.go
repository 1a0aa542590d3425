package luaext_test

import (
	"testing"
	"time"

	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/luaext"
)

// benchRoute is a route with a handful of KSR calls of each argument and
// return kind, and the KSR.x.exit unwinding most routes end with.
const benchRoute = `
function ksr_request_route()
	if KSR.t.int("10") < 0 then return end
	if not KSR.t.yes() then return end
	local s = KSR.t.str("sip:a@127.0.0.1")
	KSR.t.si(s, 2)
	KSR.x.exit()
end`

// BenchmarkRoute measures the binding: one run of benchRoute with no
// limits.
func BenchmarkRoute(b *testing.B) {
	benchmarkRoute(b, benchRoute)
}

// BenchmarkRouteEngineDefaults runs benchRoute under the limits an engine
// applies by default (1s, 64 MiB).
func BenchmarkRouteEngineDefaults(b *testing.B) {
	benchmarkRoute(b, benchRoute, func(o *luaext.Options) {
		o.Timeout = time.Second
		o.MemoryLimit = 64 << 20
	})
}

// BenchmarkRouteConcat runs a route that builds URIs and a header with
// .., as routing scripts do, under the engine's default limits.
func BenchmarkRouteConcat(b *testing.B) {
	benchmarkRoute(b, `
function ksr_request_route()
	local user = KSR.t.str("alice")
	local ru = "sip:" .. user .. "@" .. "127.0.0.1" .. ":" .. 5060
	local hdr = "X-Route: " .. ru .. "\r\n"
	KSR.t.si(ru .. hdr, 2)
	KSR.x.exit()
end`, func(o *luaext.Options) {
		o.Timeout = time.Second
		o.MemoryLimit = 64 << 20
	})
}

func benchmarkRoute(b *testing.B, src string, opts ...func(*luaext.Options)) {
	var rec record
	st, _ := newState(b, src, &rec, opts...)
	m := msg(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := st.Call("ksr_request_route", kemi.RouteRequest, m); err != nil {
			b.Fatal(err)
		}
	}
}
