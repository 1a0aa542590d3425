package ksr

import (
	"strings"

	"github.com/kemisip/kemi/kemi"
)

// myselfExports are the "is it me?" tests. They ask the engine
// (Host.IsMyself), which knows the listening sockets and aliases.
func (mod *Module) myselfExports() []kemi.Export {
	return []kemi.Export{
		fn("is_myself", kemi.S, kemi.ReturnBool, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return kemi.Bool(mod.isMyself(m, a.Str(0)))
		}),
		fn("is_myself_ruri", nil, kemi.ReturnBool, func(m *kemi.Msg, _ kemi.Args) kemi.Value {
			return kemi.Bool(m.IsRequest() && mod.isMyself(m, m.RURI()))
		}),
		fn("is_myself_duri", nil, kemi.ReturnBool, func(m *kemi.Msg, _ kemi.Args) kemi.Value {
			return kemi.Bool(m.DstURI != "" && mod.isMyself(m, m.DstURI))
		}),
		fn("is_myself_nhuri", nil, kemi.ReturnBool, func(m *kemi.Msg, _ kemi.Args) kemi.Value {
			return kemi.Bool(m.IsRequest() && mod.isMyself(m, m.NextHop()))
		}),
		fn("is_myself_furi", nil, kemi.ReturnBool, func(m *kemi.Msg, _ kemi.Args) kemi.Value {
			uri, ok := m.FromPart(kemi.PartURI)
			return kemi.Bool(ok && mod.isMyself(m, uri))
		}),
		fn("is_myself_turi", nil, kemi.ReturnBool, func(m *kemi.Msg, _ kemi.Args) kemi.Value {
			uri, ok := m.ToPart(kemi.PartURI)
			return kemi.Bool(ok && mod.isMyself(m, uri))
		}),
		fn("is_myself_suri", nil, kemi.ReturnBool, func(m *kemi.Msg, _ kemi.Args) kemi.Value {
			uri, ok := m.SourceURI()
			return kemi.Bool(ok && mod.isMyself(m, uri))
		}),
		fn("is_myself_srcip", nil, kemi.ReturnBool, func(m *kemi.Msg, _ kemi.Args) kemi.Value {
			return kemi.Bool(m.Src.IsValid() && mod.isMyself(m, m.Src.Addr().Unmap().String()))
		}),
	}
}

// isMyself checks a URI or a host against our addresses. A text starting
// with "sip:" or "sips:" (in any case: a URI read from a message still
// lazy is as received, "SIP:" included) is parsed as a URI and its port
// and transport parameter count (0 and "" when absent: any port, any
// transport); anything else is taken as a host.
func (mod *Module) isMyself(m *kemi.Msg, s string) bool {
	h := mod.hostOf(m)
	if s == "" || h == nil {
		return false
	}
	if len(s) <= 4 || !(hasPrefixFold(s, "sip:") || hasPrefixFold(s, "sips:")) {
		return h.IsMyself(s, 0, "")
	}
	u, err := kemi.ParseURI(s)
	if err != nil {
		m.Errorf(mod.log, "is_myself: %v", err)
		return false
	}
	return h.IsMyself(u.Host, u.Port, uriTransport(&u))
}

// hasPrefixFold reports whether s starts with prefix, ASCII letters in any
// case.
func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
