package luastr

import (
	"testing"

	lua "github.com/yuin/gopher-lua"
)

// The benchmarks run typical routing-script calls in a Lua loop, once with
// gopher-lua's own functions (impl=gopher) and once with this package's
// (impl=luastr); `..` is the VM's OP_CONCAT in the first and the rewritten
// ConcatName call in the second. Compare with
//
//	go test -run NONE -bench . -count 10 ./luaext/luastr/ > bench.txt
//	benchstat -col /impl bench.txt
var benchCases = []struct{ name, body string }{
	{"find_anchored", `local a, b = string.find(uri, "^sip:")`},
	{"find_plain", `local a, b = string.find(uri, "@", 1, true)`},
	{"match_number", `local m = string.match(num, "^%+?%d+$")`},
	{"match_userhost", `local u, h = string.match(uri, "(%w+)@([%w%.]+)")`},
	{"method_match", `local u = uri:match("^sip:([^@]+)")`},
	{"gsub_chars", `local r, n = string.gsub(long, "[%-%.]", "")`},
	{"gsub_plain", `local r, n = string.gsub(long, "-", "_")`},
	{"gmatch_params", `for k, v in string.gmatch(params, ";(%w+)=(%w+)") do end`},
	{"concat3", `local r = "sip:" .. user .. "@example.com"`},
	{"concat_number", `local r = host .. ":" .. port`},
	{"format", `local r = string.format("%s:%d", host, port)`},
	{"table_concat", `local r = table.concat(parts, ",")`},
	{"lower", `local r = string.lower(method)`},
	{"rep", `local r = string.rep("ab", 8)`},
}

const benchGlobals = `
uri = "sip:alice@example.com;transport=udp"
num = "+4930123456"
user = "alice"
host = "10.0.0.1"
port = 5060
method = "INVITE"
params = ";transport=udp;lr=on;ttl=15"
long = "a1b2c3d4e5-f6g7h8i9j0.k1l2m3n4o5p6q7r8s9t0u1v2w3x4y5-z6a7b8c9d0e1f2g3h4i5.j6k7l8m9n0o1p2q3r4s5t6u7"
parts = {"INVITE", "ACK", "BYE", "CANCEL"}
`

func BenchmarkString(b *testing.B) {
	for _, c := range benchCases {
		for _, impl := range []string{"gopher", "luastr"} {
			b.Run(c.name+"/impl="+impl, func(b *testing.B) {
				L := lua.NewState()
				defer L.Close()
				src := benchGlobals + "return function(n) for i = 1, n do " + c.body + " end end"
				var fn *lua.LFunction
				var err error
				if impl == "luastr" {
					Open(L, nil)
					fn, err = loadRewritten(L, src, "bench.lua")
				} else {
					fn, err = L.LoadString(src)
				}
				if err != nil {
					b.Fatal(err)
				}
				L.Push(fn)
				if err := L.PCall(0, 1, nil); err != nil {
					b.Fatal(err)
				}
				loop := L.Get(-1)
				L.Pop(1)
				b.ReportAllocs()
				b.ResetTimer()
				if err := L.CallByParam(lua.P{Fn: loop, Protect: true}, lua.LNumber(b.N)); err != nil {
					b.Fatal(err)
				}
			})
		}
	}
}
