package ksr

import (
	"github.com/kemisip/kemi/kemi"
)

// hdrExports is KSR.hdr. Changes apply at once: unlike Kamailio's lumps, a
// header appended in a route is visible to KSR.hdr.get in the same route.
func (mod *Module) hdrExports() []kemi.Export {
	return []kemi.Export{
		{Module: "hdr", Name: "append", Params: kemi.S, Return: kemi.ReturnInt, Func: mod.hdrAppend},
		{Module: "hdr", Name: "remove", Params: kemi.S, Return: kemi.ReturnInt, Func: mod.hdrRemove},
		{Module: "hdr", Name: "get", Params: kemi.S, Return: kemi.ReturnXval, Func: func(m *kemi.Msg, a kemi.Args) kemi.Value {
			if v, ok := m.HeaderValue(a.Str(0)); ok {
				return kemi.Str(v)
			}
			return kemi.Null
		}},
	}
}

func (mod *Module) hdrAppend(m *kemi.Msg, a kemi.Args) kemi.Value {
	hs, err := kemi.ParseHeaders(a.Str(0))
	if err != nil {
		m.Errorf(mod.log, "KSR.hdr.append: %v", err)
		return kemi.Fail
	}
	m.AppendHeaders(hs...)
	return kemi.OK
}

func (mod *Module) hdrRemove(m *kemi.Msg, a kemi.Args) kemi.Value {
	if a.Str(0) == "" {
		m.Errorf(mod.log, "KSR.hdr.remove: empty header name")
		return kemi.Fail
	}
	m.RemoveHeaders(a.Str(0))
	return kemi.OK
}
