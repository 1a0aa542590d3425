package engine

// The engine links no module: its tests link the standard modules, as
// cmd/kemi does, so that engines configured with Modules nil get them.
import _ "github.com/kemisip/kemi/core/all"
