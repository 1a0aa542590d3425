package ksr

import (
	"github.com/kemisip/kemi/kemi"
)

// coreExports is the KSR table itself: the functions of Kamailio's module
// "(core)", grouped as in the README.
func (mod *Module) coreExports() []kemi.Export {
	var x []kemi.Export
	x = append(x, mod.logExports()...)
	x = append(x, mod.methodExports()...)
	x = append(x, mod.protoExports()...)
	x = append(x, mod.myselfExports()...)
	x = append(x, mod.flagExports()...)
	x = append(x, mod.uriExports()...)
	x = append(x, mod.forwardExports()...)
	return x
}

// fn builds a core export (module "").
func fn(name string, params []kemi.ParamKind, ret kemi.ReturnKind, f kemi.Func) kemi.Export {
	return kemi.Export{Name: name, Params: params, Return: ret, Func: f}
}

// setTrue returns a function that applies set to the message and returns
// true: the shape of force_rport, set_reply_close and friends.
func setTrue(set func(m *kemi.Msg)) kemi.Func {
	return func(m *kemi.Msg, _ kemi.Args) kemi.Value {
		set(m)
		return kemi.True
	}
}

// host returns the engine serving m: the message's Host, else the one the
// module got at ModInit.
func (mod *Module) hostOf(m *kemi.Msg) kemi.Host {
	if m.Host != nil {
		return m.Host
	}
	return mod.host
}
