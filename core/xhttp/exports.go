package xhttp

import "github.com/kemisip/kemi/kemi"

// Exports returns KSR.xhttp.
func (mod *Module) Exports() []kemi.Export {
	return []kemi.Export{
		{Module: "xhttp", Name: "xhttp_reply", Params: []kemi.ParamKind{kemi.ParamInt, kemi.ParamStr, kemi.ParamStr, kemi.ParamStr},
			Return: kemi.ReturnInt, Func: mod.reply},
		{Module: "xhttp", Name: "get_hu", Return: kemi.ReturnXval, Func: mod.getHU},
	}
}

// request returns the HTTP request m stands for, logging when there is
// none (the function was called outside ksr_xhttp_event).
func (mod *Module) request(m *kemi.Msg, fn string) *kemi.HTTPRequest {
	r := kemi.HTTPRequestOf(m)
	if r == nil {
		mod.log.Error("xhttp: "+fn+" outside an HTTP request (ksr_xhttp_event)", "at", m.Where())
	}
	return r
}

// reply answers the HTTP request with code, reason, a Content-Type (none
// when empty) and body; 1, or -1 outside an HTTP request or after the
// connection was upgraded.
func (mod *Module) reply(m *kemi.Msg, a kemi.Args) kemi.Value {
	r := mod.request(m, "xhttp_reply")
	if r == nil || r.Reply == nil {
		return kemi.Int(-1)
	}
	if err := r.Reply(a.Int(0), a.Str(1), a.Str(2), []byte(a.Str(3))); err != nil {
		mod.log.Error("xhttp: xhttp_reply: "+err.Error(), "at", m.Where())
		return kemi.Int(-1)
	}
	return kemi.Int(1)
}

// getHU returns the HTTP request's URL ($hu), nil outside an HTTP
// request.
func (mod *Module) getHU(m *kemi.Msg, _ kemi.Args) kemi.Value {
	r := mod.request(m, "get_hu")
	if r == nil {
		return kemi.Null
	}
	return kemi.Str(r.URL)
}
