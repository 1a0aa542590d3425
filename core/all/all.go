// Package all links the standard kemi modules into a binary: cmd/kemi
// imports it, and so does a program that embeds the engine and wants every
// standard module (the engine links none itself, as Caddy's core links no
// module and cmd/caddy does). Each module registers itself with its place
// in the standard order (kemi.ModuleInfo.Order), so an engine whose
// configuration names no modules loads kemi.StandardModules(): ModInit in
// that order, Destroy in reverse. TestStandardOrder keeps the order
// written down here.
package all

import (
	// The standard modules register themselves in init().
	_ "github.com/kemisip/kemi/core/auth"
	_ "github.com/kemisip/kemi/core/auth_db"
	_ "github.com/kemisip/kemi/core/corex"
	_ "github.com/kemisip/kemi/core/dispatcher"
	_ "github.com/kemisip/kemi/core/htable"
	_ "github.com/kemisip/kemi/core/ksr"
	_ "github.com/kemisip/kemi/core/kx"
	_ "github.com/kemisip/kemi/core/maxfwd"
	_ "github.com/kemisip/kemi/core/nathelper"
	_ "github.com/kemisip/kemi/core/path"
	_ "github.com/kemisip/kemi/core/permissions"
	_ "github.com/kemisip/kemi/core/pike"
	_ "github.com/kemisip/kemi/core/registrar"
	_ "github.com/kemisip/kemi/core/rr"
	_ "github.com/kemisip/kemi/core/rtpengine"
	_ "github.com/kemisip/kemi/core/sanity"
	_ "github.com/kemisip/kemi/core/siputils"
	_ "github.com/kemisip/kemi/core/sl"
	_ "github.com/kemisip/kemi/core/textops"
	_ "github.com/kemisip/kemi/core/tls"
	_ "github.com/kemisip/kemi/core/tm"
	_ "github.com/kemisip/kemi/core/tmx"
	_ "github.com/kemisip/kemi/core/usrloc"
	_ "github.com/kemisip/kemi/core/websocket"
	_ "github.com/kemisip/kemi/core/xhttp"
	_ "github.com/kemisip/kemi/core/xhttp_prom"
	_ "github.com/kemisip/kemi/core/xlog"
)
