package testlib

import (
	"fmt"
	"sort"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// msgObj is a message of a test file: SIP text, or a request described
// by a table and written when first used.
type msgObj struct {
	spec   *Request
	text   string
	source string
}

const msgType = "kemi.test.message"

func (r *runner) newMsg(L *lua.LState, m *msgObj) lua.LValue {
	ud := L.NewUserData()
	ud.Value = m
	mt := L.NewTypeMetatable(msgType)
	if mt.RawGetString("__index") == lua.LNil {
		methods := map[string]lua.LGFunction{
			"from":   r.msgFrom,
			"text":   r.msgText,
			"cancel": r.msgCancel,
			"ack":    r.msgAck,
		}
		idx := L.NewTable()
		for k, f := range methods {
			idx.RawSetString(k, L.NewFunction(f))
		}
		mt.RawSetString("__index", idx)
		mt.RawSetString("__tostring", L.NewFunction(r.msgText))
	}
	L.SetMetatable(ud, mt)
	return ud
}

func (r *runner) checkMsg(L *lua.LState, n int) *msgObj {
	ud, ok := L.Get(n).(*lua.LUserData)
	if ok {
		if m, ok := ud.Value.(*msgObj); ok {
			return m
		}
	}
	if s, ok := L.Get(n).(lua.LString); ok {
		return &msgObj{text: string(s)}
	}
	L.ArgError(n, "want a message (T.request, T.message or SIP text)")
	return nil
}

// message returns the text and source, writing a described request
// once.
func (r *runner) message(m *msgObj) Message {
	if m.text == "" && m.spec != nil {
		spec := *m.spec
		spec.Source = m.source
		m.text = r.b.RequestText(spec)
	}
	return Message{Text: m.text, Source: m.source}
}

// T.request{method=, ruri=, headers=, body=, source=, from=, to=,
// contact=, call_id=, cseq=}
func (r *runner) luaRequest(L *lua.LState) int {
	t := L.CheckTable(1)
	spec := &Request{Method: lua.LVAsString(t.RawGetString("method")), RURI: lua.LVAsString(t.RawGetString("ruri")),
		Body: lua.LVAsString(t.RawGetString("body"))}
	if spec.RURI == "" {
		L.ArgError(1, "want ruri")
	}
	for _, f := range [][2]string{{"from", "From"}, {"to", "To"}, {"contact", "Contact"}, {"call_id", "Call-ID"}, {"cseq", "CSeq"}} {
		if v := t.RawGetString(f[0]); v != lua.LNil {
			spec.Headers = append(spec.Headers, Header{Name: f[1], Value: v.String()})
		}
	}
	spec.Headers = append(spec.Headers, headerList(t.RawGetString("headers"))...)
	m := &msgObj{spec: spec, source: lua.LVAsString(t.RawGetString("source"))}
	L.Push(r.newMsg(L, m))
	return 1
}

// headerList reads headers: a list of "Name: value" strings or {name,
// value} pairs, or a table name -> value (a list value gives several
// headers), sorted by name.
func headerList(v lua.LValue) []Header {
	t, ok := v.(*lua.LTable)
	if !ok {
		return nil
	}
	var out []Header
	if t.Len() > 0 {
		for i := 1; i <= t.Len(); i++ {
			switch e := t.RawGetInt(i).(type) {
			case lua.LString:
				name, value, _ := strings.Cut(string(e), ":")
				out = append(out, Header{Name: strings.TrimSpace(name), Value: strings.TrimSpace(value)})
			case *lua.LTable:
				out = append(out, Header{Name: e.RawGetInt(1).String(), Value: e.RawGetInt(2).String()})
			}
		}
		return out
	}
	byName := map[string]lua.LValue{}
	t.ForEach(func(k, v lua.LValue) { byName[k.String()] = v })
	for _, name := range keys(byName) {
		if vt, ok := byName[name].(*lua.LTable); ok {
			for i := 1; i <= vt.Len(); i++ {
				out = append(out, Header{Name: name, Value: vt.RawGetInt(i).String()})
			}
			continue
		}
		out = append(out, Header{Name: name, Value: byName[name].String()})
	}
	return out
}

// T.message(text [, source])
func (r *runner) luaMessage(L *lua.LState) int {
	m := &msgObj{text: L.CheckString(1), source: L.OptString(2, "")}
	L.Push(r.newMsg(L, m))
	return 1
}

// msg:from("udp:1.2.3.4:5060"): the source and transport; a described
// request is written again for it.
func (r *runner) msgFrom(L *lua.LState) int {
	m := r.checkMsg(L, 1)
	src := L.CheckString(2)
	if strings.Count(src, ":") < 2 {
		L.ArgError(2, "want proto:ip:port, udp:192.0.2.10:5062")
	}
	m.source = src
	if m.spec != nil {
		m.text = ""
	}
	L.Push(L.Get(1))
	return 1
}

func (r *runner) msgText(L *lua.LState) int {
	L.Push(lua.LString(r.message(r.checkMsg(L, 1)).Text))
	return 1
}

// msg:cancel(): the CANCEL of an INVITE, from the same source.
func (r *runner) msgCancel(L *lua.LState) int {
	return r.derive(L, "CANCEL", "")
}

// msg:ack(totag): the ACK of an INVITE for a negative reply.
func (r *runner) msgAck(L *lua.LState) int {
	return r.derive(L, "ACK", L.OptString(2, ""))
}

func (r *runner) derive(L *lua.LState, method, totag string) int {
	m := r.checkMsg(L, 1)
	msg := r.message(m)
	text, err := r.b.Derive(msg.Text, method, totag)
	if err != nil {
		L.RaiseError("kemi.test: %v", err)
	}
	L.Push(r.newMsg(L, &msgObj{text: text, source: msg.Source}))
	return 1
}

// T.run(msg): ksr_request_route.
func (r *runner) luaRun(L *lua.LState) int {
	m := r.message(r.checkMsg(L, 1))
	return r.pushOutcome(L, r.engine().Run("ksr_request_route", m))
}

// T.route(name, msg): a named route.
func (r *runner) luaRoute(L *lua.LState) int {
	name := L.CheckString(1)
	m := r.message(r.checkMsg(L, 2))
	return r.pushOutcome(L, r.engine().Run(name, m))
}

// T.reply(msg): a reply, through ksr_reply_route and tm.
func (r *runner) luaReply(L *lua.LState) int {
	m := r.message(r.checkMsg(L, 1))
	return r.pushOutcome(L, r.engine().Reply(m))
}

// T.answer(relay, code [, reason [, headers]]): the peer of a relayed
// request replies.
func (r *runner) luaAnswer(L *lua.LState) int {
	relay := L.CheckTable(1)
	id, ok := relay.RawGetString("id").(lua.LNumber)
	if !ok {
		L.ArgError(1, "want a relay of a result (r.relays[1])")
	}
	code := L.CheckInt(2)
	return r.pushOutcome(L, r.engine().Answer(int(id), code, L.OptString(3, ""), headerList(L.Get(4))))
}

// T.failure(code [, reason]): every branch of the last request answers
// code; the failure route runs.
func (r *runner) luaFailure(L *lua.LState) int {
	code := L.CheckInt(1)
	return r.pushOutcome(L, r.engine().Fail(code, L.OptString(2, "")))
}

// pushOutcome turns an outcome into the result table of a test.
func (r *runner) pushOutcome(L *lua.LState, o *Outcome) int {
	r.cur.last = o
	t := L.NewTable()
	t.RawSetString("route", lua.LString(o.Route))
	t.RawSetString("ran", lua.LBool(o.Ran))
	t.RawSetString("exited", lua.LBool(o.Exited))
	if o.Err != "" {
		t.RawSetString("err", lua.LString(o.Err))
	}
	replies := L.NewTable()
	for _, x := range o.Replies {
		replies.Append(r.record(L, x.Headers, "code", x.Code, "reason", x.Reason, "dest", x.Dest, "text", x.Text))
	}
	t.RawSetString("replies", replies)
	if len(o.Replies) > 0 {
		t.RawSetString("reply", replies.RawGetInt(len(o.Replies)))
	}
	relays := L.NewTable()
	for _, x := range o.Relays {
		relays.Append(r.record(L, x.Headers, "id", x.ID, "method", x.Method, "uri", x.URI, "dest", x.Dest, "socket", x.Socket, "text", x.Text))
	}
	t.RawSetString("relays", relays)
	flags := L.NewTable()
	for i := 0; i < 32; i++ {
		if o.Flags&(1<<i) != 0 {
			flags.RawSetInt(i, lua.LTrue)
		}
	}
	t.RawSetString("flags", flags)
	t.RawSetString("written", lua.LString(o.Written))
	logs := L.NewTable()
	for _, l := range o.Logs {
		logs.Append(lua.LString(l))
	}
	t.RawSetString("logs", logs)
	t.RawSetString("log", lua.LString(strings.Join(o.Logs, "\n")))
	trace := L.NewTable()
	for _, l := range o.Trace {
		trace.Append(lua.LString(l))
	}
	t.RawSetString("trace", trace)
	pv := o.PV
	t.RawSetString("pv", L.NewFunction(func(L *lua.LState) int {
		name := L.CheckString(2)
		if pv == nil {
			L.Push(lua.LNil)
			return 1
		}
		L.Push(toLua(L, pv(name)))
		return 1
	}))
	t.RawSetString("flag", L.NewFunction(func(L *lua.LState) int {
		n := L.CheckInt(2)
		L.Push(lua.LBool(n >= 0 && n < 32 && o.Flags&(1<<n) != 0))
		return 1
	}))
	L.Push(t)
	return 1
}

// record builds the table of a reply or a relay: fields given as name,
// value pairs, and its headers (see setHeaders).
func (r *runner) record(L *lua.LState, hs []Header, fields ...any) *lua.LTable {
	t := L.NewTable()
	for i := 0; i+1 < len(fields); i += 2 {
		t.RawSetString(fields[i].(string), toLua(L, fields[i+1]))
	}
	r.setHeaders(L, t, hs)
	return t
}

// setHeaders gives a reply or relay table its headers (a list of {name,
// value}) and :header(name), the first value of a header, or nil.
func (r *runner) setHeaders(L *lua.LState, t *lua.LTable, hs []Header) {
	list := L.NewTable()
	for _, h := range hs {
		ht := L.NewTable()
		ht.RawSetString("name", lua.LString(h.Name))
		ht.RawSetString("value", lua.LString(h.Value))
		list.Append(ht)
	}
	t.RawSetString("headers", list)
	t.RawSetString("header", L.NewFunction(func(L *lua.LState) int {
		name := L.CheckString(2)
		for _, h := range hs {
			if strings.EqualFold(h.Name, name) {
				L.Push(lua.LString(h.Value))
				return 1
			}
		}
		L.Push(lua.LNil)
		return 1
	}))
}

// T.call("KSR.module.function", args...): a KSR function on a setup
// message, for module state.
func (r *runner) luaCall(L *lua.LState) int {
	name := L.CheckString(1)
	args := make([]any, 0, L.GetTop()-1)
	for i := 2; i <= L.GetTop(); i++ {
		args = append(args, toGo(L.Get(i)))
	}
	v, err := r.engine().Call(name, args...)
	if err != nil {
		L.RaiseError("kemi.test: %v", err)
	}
	L.Push(toLua(L, v))
	return 1
}

// T.rpc(method, params...): a module's control command, as kemi ctl
// sends it.
func (r *runner) luaRPC(L *lua.LState) int {
	method := L.CheckString(1)
	var params []any
	for i := 2; i <= L.GetTop(); i++ {
		params = append(params, toGo(L.Get(i)))
	}
	v, err := r.engine().RPC(method, params...)
	if err != nil {
		L.RaiseError("kemi.test: rpc %s: %v", method, err)
	}
	L.Push(toLua(L, v))
	return 1
}

// T.contact{aor=, contact=, q=, expires=, received=, path=, socket=,
// table=}: a registered contact.
func (r *runner) luaContact(L *lua.LState) int {
	t := L.CheckTable(1)
	c := Contact{AOR: lua.LVAsString(t.RawGetString("aor")), Contact: lua.LVAsString(t.RawGetString("contact")),
		Table: lua.LVAsString(t.RawGetString("table")), Received: lua.LVAsString(t.RawGetString("received")),
		Path: lua.LVAsString(t.RawGetString("path")), Socket: lua.LVAsString(t.RawGetString("socket")),
		Q: int(lua.LVAsNumber(t.RawGetString("q")) * 1000), Expires: int(lua.LVAsNumber(t.RawGetString("expires")))}
	if c.AOR == "" || c.Contact == "" {
		L.ArgError(1, "want aor and contact")
	}
	if err := r.engine().AddContact(c); err != nil {
		L.RaiseError("kemi.test: contact: %v", err)
	}
	return 0
}

// T.contacts(aor [, table]): the live bindings of an AOR, a list of
// {contact=, q=, expires=, received=, path=, socket=}.
func (r *runner) luaContacts(L *lua.LState) int {
	aor := L.CheckString(1)
	cs, err := r.engine().Contacts(L.OptString(2, ""), aor)
	if err != nil {
		L.RaiseError("kemi.test: contacts: %v", err)
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].Contact < cs[j].Contact })
	list := L.NewTable()
	for _, c := range cs {
		ct := L.NewTable()
		ct.RawSetString("contact", lua.LString(c.Contact))
		ct.RawSetString("aor", lua.LString(c.AOR))
		if c.Q >= 0 {
			ct.RawSetString("q", lua.LNumber(float64(c.Q)/1000))
		}
		ct.RawSetString("expires", lua.LNumber(c.Expires))
		ct.RawSetString("received", lua.LString(c.Received))
		ct.RawSetString("path", lua.LString(c.Path))
		ct.RawSetString("socket", lua.LString(c.Socket))
		list.Append(ct)
	}
	L.Push(list)
	return 1
}

// T.subscriber(user, domain, password): a user of auth_db.
func (r *runner) luaSubscriber(L *lua.LState) int {
	if err := r.engine().AddSubscriber(L.CheckString(1), L.CheckString(2), L.CheckString(3)); err != nil {
		L.RaiseError("kemi.test: subscriber: %v", err)
	}
	return 0
}

// T.authorize(msg, challenge_reply, user, password): msg again with the
// credentials that answer the reply's challenge.
func (r *runner) luaAuthorize(L *lua.LState) int {
	m := r.checkMsg(L, 1)
	reply := L.CheckTable(2)
	user, password := L.CheckString(3), L.CheckString(4)
	header, challenge := "", ""
	if hl, ok := reply.RawGetString("headers").(*lua.LTable); ok {
		hl.ForEach(func(_, v lua.LValue) {
			h, ok := v.(*lua.LTable)
			if !ok || header != "" {
				return
			}
			name := h.RawGetString("name").String()
			if strings.EqualFold(name, "WWW-Authenticate") || strings.EqualFold(name, "Proxy-Authenticate") {
				header, challenge = name, h.RawGetString("value").String()
			}
		})
	}
	if header == "" {
		L.ArgError(2, "the reply has no WWW-Authenticate or Proxy-Authenticate")
	}
	msg := r.message(m)
	text, err := r.b.Authorize(msg.Text, header, challenge, user, password)
	if err != nil {
		L.RaiseError("kemi.test: authorize: %v", err)
	}
	L.Push(r.newMsg(L, &msgObj{text: text, source: msg.Source}))
	return 1
}

// T.htable.set(table, key, value): a string or an integer item.
func (r *runner) luaHtableSet(L *lua.LState) int {
	table, key := L.CheckString(1), L.CheckString(2)
	fn, val := "KSR.htable.sht_sets", any(nil)
	switch v := L.Get(3).(type) {
	case lua.LNumber:
		fn, val = "KSR.htable.sht_seti", int64(v)
	default:
		val = lua.LVAsString(v)
	}
	if _, err := r.engine().Call(fn, table, key, val); err != nil {
		L.RaiseError("kemi.test: htable: %v", err)
	}
	return 0
}

// T.htable.get(table, key): the item, or nil.
func (r *runner) luaHtableGet(L *lua.LState) int {
	v, err := r.engine().Call("KSR.htable.sht_get", L.CheckString(1), L.CheckString(2))
	if err != nil {
		L.RaiseError("kemi.test: htable: %v", err)
	}
	L.Push(toLua(L, v))
	return 1
}

// T.dispatcher.set_state(state, group, uri): a destination's state ("a",
// "i", "p", ...), as dispatcher.set_state does.
func (r *runner) luaDsSetState(L *lua.LState) int {
	state, group, uri := L.CheckString(1), L.CheckInt(2), L.CheckString(3)
	if _, err := r.engine().RPC("dispatcher.set_state", state, group, uri); err != nil {
		L.RaiseError("kemi.test: dispatcher: %v", err)
	}
	return 0
}

// describe writes a Lua value for a failure message: strings quoted,
// tables with their keys sorted, nested up to a few levels.
func describe(v lua.LValue) string {
	var b strings.Builder
	describeTo(&b, v, 0)
	return b.String()
}

func describeTo(b *strings.Builder, v lua.LValue, depth int) {
	switch x := v.(type) {
	case lua.LString:
		fmt.Fprintf(b, "%q", string(x))
	case *lua.LTable:
		if depth > 3 {
			b.WriteString("{...}")
			return
		}
		b.WriteString("{")
		n := x.Len()
		first := true
		sep := func() {
			if !first {
				b.WriteString(", ")
			}
			first = false
		}
		for i := 1; i <= n; i++ {
			sep()
			describeTo(b, x.RawGetInt(i), depth+1)
		}
		rest := map[string]lua.LValue{}
		x.ForEach(func(k, e lua.LValue) {
			if kn, ok := k.(lua.LNumber); ok && float64(kn) >= 1 && float64(kn) <= float64(n) && float64(kn) == float64(int(kn)) {
				return
			}
			if _, fn := e.(*lua.LFunction); fn {
				return
			}
			rest[k.String()] = e
		})
		for _, k := range keys(rest) {
			sep()
			b.WriteString(k + "=")
			describeTo(b, rest[k], depth+1)
		}
		b.WriteString("}")
	default:
		b.WriteString(v.String())
	}
}
