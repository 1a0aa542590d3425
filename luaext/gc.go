package luaext

import (
	"runtime/metrics"

	lua "github.com/yuin/gopher-lua"
)

// heapMetric is the Go runtime's count of the bytes in live and not yet
// swept heap objects.
const heapMetric = "/memory/classes/heap/objects:bytes"

// openGC replaces collectgarbage. gopher-lua's ran a full collection of
// the whole process (runtime.GC) whatever the option, stalling every
// worker, so a script calling it in each route slowed all of them, and it
// gave nothing for "count". Go's collector runs on its own: "collect",
// "step", "stop" and "restart" do nothing, "count" gives the process's
// heap in KB (Lua 5.1 gives the state's), "setpause" and "setstepmul"
// give the previous value as Lua 5.1 does.
func (st *State) openGC() {
	L := st.L
	pause, stepmul := 200, 200 // Lua 5.1's defaults
	L.SetGlobal("collectgarbage", L.NewFunction(func(L *lua.LState) int {
		switch opt := L.OptString(1, "collect"); opt {
		case "collect", "stop", "restart":
			L.Push(lua.LNumber(0))
		case "step":
			L.Push(lua.LTrue)
		case "count":
			sample := []metrics.Sample{{Name: heapMetric}}
			metrics.Read(sample)
			var kb float64
			if sample[0].Value.Kind() == metrics.KindUint64 {
				kb = float64(sample[0].Value.Uint64()) / 1024
			}
			L.Push(lua.LNumber(kb))
		case "setpause":
			L.Push(lua.LNumber(pause))
			pause = L.OptInt(2, 0)
		case "setstepmul":
			L.Push(lua.LNumber(stepmul))
			stepmul = L.OptInt(2, 0)
		default:
			L.ArgError(1, "invalid option '"+opt+"'")
		}
		return 1
	}))
}
