package luaext_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/luaext"
	lua "github.com/yuin/gopher-lua"
)

// TestSandboxRefusesUnsafeFunctions: without allow_unsafe_lua a script gets
// no file, process or environment access, and the error names the function
// and the setting.
func TestSandboxRefusesUnsafeFunctions(t *testing.T) {
	tmp := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(tmp, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		call string
		want string
	}{
		{`KSR.t.str(io.open("/etc/passwd"):read("*a"))`, "t.lua:2: io.open is disabled in kemi: scripts get no file access; set allow_unsafe_lua = true in [core] to allow it"},
		{`for l in io.lines("/etc/passwd") do KSR.t.str(l) end`, "io.lines is disabled in kemi"},
		{`io.read("*a")`, "io.read is disabled in kemi"},
		{`io.write("x")`, "io.write is disabled in kemi"},
		{`io.popen("id")`, "io.popen is disabled in kemi"},
		{`io.output("/tmp/x")`, "io.output is disabled in kemi"},
		{`io.stdout:write("x")`, "io.stdout is disabled in kemi"},
		{`package.loaded.io.open("/etc/passwd")`, "io.open is disabled in kemi"},
		{`KSR.t.str(os.getenv("HOME"))`, "t.lua:2: os.getenv is disabled in kemi: scripts get no environment access; set allow_unsafe_lua = true in [core] to allow it"},
		{`os.remove("` + tmp + `")`, "os.remove is disabled in kemi: scripts get no file access"},
		{`os.rename("` + tmp + `", "` + tmp + `2")`, "os.rename is disabled in kemi"},
		{`os.tmpname()`, "os.tmpname is disabled in kemi"},
		{`os.execute("true")`, "os.execute is disabled in kemi: scripts cannot run programs"},
		{`os.exit(1)`, "os.exit is disabled in kemi: scripts cannot stop the server"},
		{`os.setenv("X", "y")`, "os.setenv is disabled in kemi"},
		{`dofile("/etc/passwd")`, "dofile is disabled in kemi"},
		{`loadfile("/etc/passwd")`, "loadfile is disabled in kemi"},
		{`package.loadlib("/lib/libc.so.6", "system")`, "package.loadlib is disabled in kemi"},
		{`package.path = "/etc/?" require("passwd")`, "module passwd not found"},
		{`package.loaders[2]("passwd") package.path = "/etc/?" local f = package.loaders[2]("passwd") KSR.t.str(tostring(f)) error("loaded")`, "loaded"},
	}
	for _, c := range cases {
		t.Run(c.call, func(t *testing.T) {
			rec := &record{}
			st, _ := newState(t, "function r()\n\t"+c.call+"\nend\n", rec)
			_, err := st.Call("r", kemi.RouteRequest, msg(t))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
			if strings.Contains(rec.args.Str(0)+err.Error(), "root:") {
				t.Fatalf("/etc/passwd was read: %q %v", rec.args.Str(0), err)
			}
		})
	}
	if _, err := os.Stat(tmp); err != nil {
		t.Errorf("the sandbox let a file be removed or renamed: %v", err)
	}
}

// TestSandboxKeeps lists what scripts keep without allow_unsafe_lua.
func TestSandboxKeeps(t *testing.T) {
	rec := &record{}
	st, _ := newState(t, `function r()
	print("printed by TestSandboxKeeps")
	local t = os.time()
	local c = os.clock()
	local d = os.date("%Y")
	local diff = os.difftime(t, t)
	KSR.t.str(type(t) .. type(c) .. type(d) .. diff .. type(io) .. type(os.getenv))
end`, rec)
	if _, err := st.Call("r", kemi.RouteRequest, msg(t)); err != nil {
		t.Fatal(err)
	}
	if got := rec.args.Str(0); got != "numbernumberstring0tablefunction" {
		t.Errorf("got %q", got)
	}
}

// TestUnsafeListMatchesGopherLua: every os function gopher-lua has is
// either kept or listed as unsafe (so kemi check reports what the sandbox
// refuses), and every io function is unsafe.
func TestUnsafeListMatchesGopherLua(t *testing.T) {
	L := lua.NewState()
	defer L.Close()
	kept := map[string]bool{"time": true, "clock": true, "date": true, "difftime": true}
	L.GetGlobal("os").(*lua.LTable).ForEach(func(k, _ lua.LValue) {
		name := "os." + k.String()
		if luaext.Unsafe(name) == kept[k.String()] {
			t.Errorf("%s: unsafe=%v", name, luaext.Unsafe(name))
		}
	})
	for _, name := range []string{"io.open", "io.stdout", "dofile", "loadfile", "package.loadlib"} {
		if !luaext.Unsafe(name) {
			t.Errorf("%s is not unsafe", name)
		}
	}
	for _, name := range []string{"print", "os.time", "string.rep", "require", "loadstring"} {
		if luaext.Unsafe(name) {
			t.Errorf("%s is unsafe", name)
		}
	}
}

// TestAllowUnsafe gives the script gopher-lua's libraries, still compiled
// through kemi's compiler.
func TestAllowUnsafe(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "data.txt")
	chunk := filepath.Join(dir, "chunk.lua")
	writeFile(t, file, "hello")
	writeFile(t, chunk, "return 'from' .. ' dofile'")
	rec := &record{}
	st, _ := newState(t, `function r()
	local f = io.open("`+file+`")
	local s = f:read("*a")
	f:close()
	KSR.t.str(s .. " " .. dofile("`+chunk+`") .. " " .. type(os.getenv("PATH")))
end
function grow() local s = dofile("`+chunk+`") while true do s = s .. s end end`, rec,
		func(o *luaext.Options) { o.AllowUnsafe = true; o.MemoryLimit = 1 << 20 })
	if _, err := st.Call("r", kemi.RouteRequest, msg(t)); err != nil {
		t.Fatal(err)
	}
	if got := rec.args.Str(0); got != "hello from dofile string" {
		t.Errorf("got %q", got)
	}
	_, err := st.Call("grow", kemi.RouteRequest, msg(t))
	var rerr *luaext.RuntimeError
	if !errors.As(err, &rerr) || !rerr.Memory {
		t.Errorf("err = %v, want the memory bound", err)
	}
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRequire loads modules from the script's folder only, through kemi's
// compiler, cached in package.loaded.
func TestRequire(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "helper.lua"), "loads = (loads or 0) + 1\nreturn {greet = function(n) return 'hi ' .. n end}\n")
	writeFile(t, filepath.Join(dir, "lib", "util.lua"), "local M = {}\nfunction M.fail() error('util failed') end\nfunction M.grow() local s = 'x' while true do s = s .. s end end\nreturn M\n")
	writeFile(t, filepath.Join(dir, "lib", "broken.lua"), "local x = \n")
	writeFile(t, filepath.Join(dir, "lib", "ksr.lua"), "return KSR.t.str('from a module')\n")
	outside := t.TempDir()
	writeFile(t, filepath.Join(outside, "secret.lua"), "return 'secret'\n")
	if err := os.Symlink(filepath.Join(outside, "secret.lua"), filepath.Join(dir, "escape.lua")); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "routing.lua")
	src := `local helper = require("helper")
function sibling() KSR.t.str(helper.greet("bob") .. " " .. tostring(require("helper") == helper) .. " " .. loads) end
function nested() require("lib.util").fail() end
function slash() KSR.t.str(tostring(require("lib/util") ~= nil)) end
function grow() require("lib.util").grow() end
function broken() require("lib.broken") end
function up() KSR.t.str(require("../secret")) end
function absolute() KSR.t.str(require("` + filepath.Join(outside, "secret") + `")) end
function link() KSR.t.str(require("escape")) end
function missing() require("nosuch") end
function widened() package.path = "` + outside + `/?.lua" KSR.t.str(require("secret")) end
function ksr() require("lib.ksr") end
`
	writeFile(t, script, src)
	sc, err := luaext.CompileFile(script)
	if err != nil {
		t.Fatal(err)
	}
	rec := &record{}
	st, err := luaext.NewState(sc, luaext.Options{Exports: testExports(rec), MemoryLimit: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	utilFile := filepath.Join(dir, "lib", "util.lua")
	cases := []struct {
		fn, want, got string
	}{
		{fn: "sibling", got: "hi bob true 1"},
		{fn: "nested", want: utilFile + ":2: util failed"},
		{fn: "slash", got: "true"},
		{fn: "grow", want: utilFile + ":3: route grow built more than 1 MiB of strings: stopped"},
		{fn: "broken", want: "error loading module 'lib.broken': " + filepath.Join(dir, "lib", "broken.lua") + ":1:"},
		{fn: "up", want: `require("../secret"): kemi loads Lua modules from the script's folder only`},
		{fn: "absolute", want: "kemi loads Lua modules from the script's folder only"},
		{fn: "link", want: "module escape not found"},
		{fn: "missing", want: "no file '" + filepath.Join(dir, "nosuch.lua") + "'"},
		{fn: "widened", want: "module secret not found"},
		{fn: "ksr", got: "from a module"},
	}
	for _, c := range cases {
		rec.args = kemi.Args{}
		_, err := st.Call(c.fn, kemi.RouteRequest, msg(t))
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.fn, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: err = %v, want %q", c.fn, err, c.want)
		case c.got != "" && rec.args.Str(0) != c.got:
			t.Errorf("%s: got %q, want %q", c.fn, rec.args.Str(0), c.got)
		}
		if rec.args.Str(0) == "secret" {
			t.Errorf("%s: a module outside the folder was loaded", c.fn)
		}
	}
	// with allow_unsafe_lua, the script's folder still comes first
	st2, err := luaext.NewState(sc, luaext.Options{Exports: testExports(rec), AllowUnsafe: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	if _, err := st2.Call("sibling", kemi.RouteRequest, msg(t)); err != nil || rec.args.Str(0) != "hi bob true 1" {
		t.Errorf("allow_unsafe_lua: err=%v got %q", err, rec.args.Str(0))
	}
	if _, err := st2.Call("widened", kemi.RouteRequest, msg(t)); err != nil || rec.args.Str(0) != "secret" {
		t.Errorf("allow_unsafe_lua: package.path is Lua's: err=%v got %q", err, rec.args.Str(0))
	}
}

// TestRequireFromScriptDir: ScriptDir names the folder of a script given
// as text; without it a bare name means the current folder.
func TestRequireFromScriptDir(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "mod.lua"), "return 'mod ' .. 1\n")
	rec := &record{}
	st, _ := newState(t, "function r() KSR.t.str(require('mod')) end\n", rec, func(o *luaext.Options) { o.ScriptDir = dir })
	if _, err := st.Call("r", kemi.RouteRequest, msg(t)); err != nil || rec.args.Str(0) != "mod 1" {
		t.Fatalf("err=%v got %q", err, rec.args.Str(0))
	}
	st2, _ := newState(t, "function r() require('mod') end\n", rec)
	cwd, _ := os.Getwd()
	if _, err := st2.Call("r", kemi.RouteRequest, msg(t)); err == nil || !strings.Contains(err.Error(), filepath.Join(cwd, "mod.lua")) {
		t.Fatalf("err = %v, want the current folder searched", err)
	}
}
