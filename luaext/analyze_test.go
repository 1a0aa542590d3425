package luaext_test

import (
	"reflect"
	"testing"

	"github.com/kemisip/kemi/luaext"
)

func TestAnalyzeFindsUnsafeCalls(t *testing.T) {
	sc, err := luaext.Compile("t.lua", []byte(`local open = io.open
function ksr_request_route()
	local f = io.open("/etc/passwd"):read("*a")
	io.stdout:write(os.getenv("HOME"), os.time())
	dofile("x.lua") os.remove("x") os.remove("y")
	print(os.date(), string.rep("x", 2), loadstring("return 1"))
	local ok = pcall(os.exit, 1)
	package.loadlib("a", "b")
	os.exit = function() end
end
`))
	if err != nil {
		t.Fatal(err)
	}
	a, err := luaext.Analyze(sc)
	if err != nil {
		t.Fatal(err)
	}
	want := []luaext.UnsafeRef{
		{Name: "io.open", Line: 1},
		{Name: "io.open", Line: 3},
		{Name: "io.stdout", Line: 4},
		{Name: "os.getenv", Line: 4},
		{Name: "dofile", Line: 5},
		{Name: "os.remove", Line: 5},
		{Name: "os.exit", Line: 7},
		{Name: "package.loadlib", Line: 8},
	}
	if !reflect.DeepEqual(a.Unsafe, want) {
		t.Errorf("unsafe = %v\nwant %v", a.Unsafe, want)
	}
}
