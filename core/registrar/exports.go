package registrar

import (
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/kemi"
)

// Exports returns KSR.registrar.
func (mod *Module) Exports() []kemi.Export {
	str, i := kemi.ParamStr, kemi.ParamInt
	fn := func(name string, params []kemi.ParamKind, f kemi.Func) kemi.Export {
		return kemi.Export{Module: "registrar", Name: name, Params: params, Return: kemi.ReturnInt, Func: f}
	}
	return []kemi.Export{
		fn("save", kemi.SI, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.save(m, a.Str(0), a.Int(1), "")
		}),
		fn("save_uri", []kemi.ParamKind{str, i, str}, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.save(m, a.Str(0), a.Int(1), a.Str(2))
		}),
		fn("lookup", kemi.S, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.lookup(m, a.Str(0), "", false)
		}),
		fn("lookup_uri", kemi.SS, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.lookup(m, a.Str(0), a.Str(1), false)
		}),
		fn("lookup_to_dset", kemi.SS, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.lookup(m, a.Str(0), a.Str(1), true)
		}),
		fn("lookup_branches", kemi.S, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.lookupBranches(m, a.Str(0))
		}),
		fn("lookup_xavp", []kemi.ParamKind{str, str, str, str}, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			m.Errorf(mod.log, "registrar: lookup_xavp: kemi has no xavps; use reg_fetch_contacts and ulc_cget")
			return kemi.Fail
		}),
		fn("registered", kemi.S, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.registered(m, a.Str(0), "")
		}),
		fn("registered_uri", kemi.SS, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.registered(m, a.Str(0), a.Str(1))
		}),
		fn("registered_flags", []kemi.ParamKind{str, str, i}, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.registered(m, a.Str(0), a.Str(1))
		}),
		fn("registered_action", []kemi.ParamKind{str, str, i, i}, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.registered(m, a.Str(0), a.Str(1))
		}),
		fn("unregister", kemi.SS, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.unregister(m, a.Str(0), a.Str(1), "")
		}),
		fn("unregister_ruid", kemi.SSS, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			if a.Str(2) == "" {
				m.Errorf(mod.log, "registrar: unregister_ruid: empty ruid")
				return kemi.Fail
			}
			return mod.unregister(m, a.Str(0), a.Str(1), a.Str(2))
		}),
		fn("reg_fetch_contacts", kemi.SSS, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.fetchContacts(m, a.Str(0), a.Str(1), a.Str(2))
		}),
		fn("reg_free_contacts", kemi.S, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.freeContacts(m, a.Str(0))
		}),
		{Module: "registrar", Name: "ulc_cget", Params: []kemi.ParamKind{str, str, i}, Return: kemi.ReturnXval,
			Func: func(m *kemi.Msg, a kemi.Args) kemi.Value { return mod.ulcCget(m, a.Str(0), a.Str(1), a.Int(2)) }},
		{Module: "registrar", Name: "ulc_rget", Params: kemi.SS, Return: kemi.ReturnXval,
			Func: func(m *kemi.Msg, a kemi.Args) kemi.Value { return mod.ulcRget(m, a.Str(0), a.Str(1)) }},
		fn("reg_send_reply", nil, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			if !m.IsRequest() {
				m.Errorf(mod.log, "registrar: reg_send_reply: not a request")
				return kemi.Fail
			}
			return mod.sendPending(m)
		}),
		fn("set_q_override", kemi.S, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			q, ok := parseQ(a.Str(0))
			if !ok {
				m.Errorf(mod.log, "registrar: set_q_override: invalid q value %q", a.Str(0))
				return kemi.Fail
			}
			m.SetValue(qOverrideKey{}, q)
			return kemi.OK
		}),
		fn("add_sock_hdr", kemi.S, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			name := strings.TrimSpace(a.Str(0))
			if !m.IsRequest() || m.Rcv == nil || !kemi.ValidHeaderName(name) {
				m.Errorf(mod.log, "registrar: add_sock_hdr: invalid header name %q or no receiving socket", name)
				return kemi.Fail
			}
			h := sip.NewHeader(name, m.Rcv.String())
			m.AppendHeaders(h)
			m.MarkAdded(h)
			return kemi.OK
		}),
		fn("reg_from_user", []kemi.ParamKind{str, str, i}, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.regFromUser(m, a.Str(0), a.Str(1), a.Int(2))
		}),
	}
}
