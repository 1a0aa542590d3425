package kemi

// Reloader is implemented by modules whose data is reloaded with the
// routing script (SIGHUP, Engine.ReloadScript): tables read from a
// database or a file.
//
// A reload is all or nothing, in two phases. First the engine compiles the
// new script and calls PrepareReload on every Reloader, in module order:
// each reads and checks its new data without changing what it serves. Only
// when the script and every module succeeded does the engine call every
// commit function, in module order, and switch the workers to the new
// script; if anything failed no commit runs, the module data and the
// script in use stay, and the engine logs and counts the failure.
//
// A nil commit with a nil error means there is nothing to switch.
// PrepareReload must hold nothing that needs releasing: a prepared reload
// that is not committed is dropped for the garbage collector. commit must
// not fail and should be quick (a pointer swap); it may run while
// messages are routed, which then see the old or the new data. The engine
// never runs two reloads at once.
type Reloader interface {
	PrepareReload() (commit func(), err error)
}
