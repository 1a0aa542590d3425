// Package scripts holds the routing scripts shipped with kemi. The default
// one is embedded in the binary and runs when `kemi run` gets no -f.
package scripts

import _ "embed"

// Default is scripts/default.lua.
//
//go:embed default.lua
var Default []byte

// DefaultName names the embedded script in logs and errors.
const DefaultName = "default.lua (embedded)"
