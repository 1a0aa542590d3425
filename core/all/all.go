// Package all links the standard kemi modules into a binary. Modules is
// their order: ModInit runs in this order and Destroy in reverse.
package all

import (
	// The standard modules register themselves in init().
	_ "github.com/kemisip/kemi/core/corex"
	_ "github.com/kemisip/kemi/core/ksr"
	_ "github.com/kemisip/kemi/core/kx"
	_ "github.com/kemisip/kemi/core/maxfwd"
	_ "github.com/kemisip/kemi/core/rr"
	_ "github.com/kemisip/kemi/core/sanity"
	_ "github.com/kemisip/kemi/core/siputils"
	_ "github.com/kemisip/kemi/core/sl"
	_ "github.com/kemisip/kemi/core/textops"
	_ "github.com/kemisip/kemi/core/tm"
	_ "github.com/kemisip/kemi/core/tmx"
	_ "github.com/kemisip/kemi/core/xlog"
)

// Modules are the standard modules, in order. "core" (the KSR table
// itself, KSR.pv and KSR.hdr) is always first.
var Modules = []string{
	"core",
	"rr",
	"tm",
	"tmx",
	"sl",
	"maxfwd",
	"sanity",
	"siputils",
	"textops",
	"corex",
	"kx",
	"xlog",
}
