package luaext_test

import (
	"reflect"
	"testing"

	"github.com/kemisip/kemi/luaext"
)

// unsafeRefs compiles src as t.lua and returns what Analyze finds unsafe
// in it.
func unsafeRefs(t *testing.T, src string) []luaext.UnsafeRef {
	t.Helper()
	sc, err := luaext.Compile("t.lua", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	a, err := luaext.Analyze(sc)
	if err != nil {
		t.Fatal(err)
	}
	return a.Unsafe
}

func TestAnalyzeFindsUnsafeCalls(t *testing.T) {
	got := unsafeRefs(t, `local open = io.open
function ksr_request_route()
	local f = io.open("/etc/passwd"):read("*a")
	io.stdout:write(os.getenv("HOME"), os.time())
	dofile("x.lua") os.remove("x") os.remove("y")
	print(os.date(), string.rep("x", 2), loadstring("return 1"))
	local ok = pcall(os.exit, 1)
	package.loadlib("a", "b")
	os.exit = function() end
end
`)
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
	if !reflect.DeepEqual(got, want) {
		t.Errorf("unsafe = %v\nwant %v", got, want)
	}
}

// TestAnalyzeFollowsNames: an unsafe function reached through another name
// for its library is found; a local of the script that happens to be
// called io or os is not the library.
func TestAnalyzeFollowsNames(t *testing.T) {
	got := unsafeRefs(t, `local o = os
local lib = io
g = os
function ksr_request_route()
	o.getenv("HOME")
	lib.open("/etc/passwd")
	g.remove("x")
	_G.os.exit(1)
	_G["io"].popen("id")
	package.loaded.io.lines("/etc/passwd")
	require("os").rename("a", "b")
	_G.dofile("x.lua")
	local io = io
	io.write("x")
end
function with_own_io(io, os)
	io.open("config")
	os.getenv("x")
	for _, io in ipairs({}) do io.read() end
end
function shadowed()
	local io = require("myio")
	io.open("x")
	local os = {getenv = function() end}
	os.getenv("x")
	do
		local os = os
		os.getenv("still the table")
	end
end
local function uses_global_again()
	os.getenv("y")
end
local t = {io = io}
t.io.open("not followed through a table")
`)
	want := []luaext.UnsafeRef{
		{Name: "os.getenv", Line: 5},
		{Name: "io.open", Line: 6},
		{Name: "os.remove", Line: 7},
		{Name: "os.exit", Line: 8},
		{Name: "io.popen", Line: 9},
		{Name: "io.lines", Line: 10},
		{Name: "os.rename", Line: 11},
		{Name: "dofile", Line: 12},
		{Name: "io.write", Line: 14},
		{Name: "os.getenv", Line: 32},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("unsafe = %v\nwant %v", got, want)
	}
}
