package ksr

import (
	"fmt"
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/kemi"
)

// hdrExports is KSR.hdr. Changes apply at once: unlike Kamailio's lumps, a
// header appended in a route is visible to KSR.hdr.get in the same route,
// and a removed one is gone.
func (mod *Module) hdrExports() []kemi.Export {
	h := func(name string, params []kemi.ParamKind, ret kemi.ReturnKind, f kemi.Func) kemi.Export {
		return kemi.Export{Module: "hdr", Name: name, Params: params, Return: ret, Func: f}
	}
	si := kemi.SI
	return []kemi.Export{
		h("append", kemi.S, kemi.ReturnInt, mod.hdrAdd("append", false, addAppend)),
		h("append_after", kemi.SS, kemi.ReturnInt, mod.hdrAdd("append_after", true, addAfter)),
		h("insert", kemi.S, kemi.ReturnInt, mod.hdrAdd("insert", false, addInsert)),
		h("insert_before", kemi.SS, kemi.ReturnInt, mod.hdrAdd("insert_before", true, addBefore)),
		h("remove", kemi.S, kemi.ReturnInt, mod.hdrRemove),
		h("rmappend", kemi.SS, kemi.ReturnInt, mod.hdrRemoveAdd("rmappend", addAppend)),
		h("rminsert", kemi.SS, kemi.ReturnInt, mod.hdrRemoveAdd("rminsert", addInsert)),
		h("is_present", kemi.S, kemi.ReturnInt, mod.hdrIsPresent),
		h("append_to_reply", kemi.S, kemi.ReturnInt, mod.hdrAppendToReply),
		h("get", kemi.S, kemi.ReturnXval, mod.hdrGet(kemi.Null, false)),
		h("gete", kemi.S, kemi.ReturnXval, mod.hdrGet(kemi.Str(""), false)),
		h("getw", kemi.S, kemi.ReturnXval, mod.hdrGet(kemi.Str("<null>"), false)),
		h("get_idx", si, kemi.ReturnXval, mod.hdrGet(kemi.Null, true)),
		h("gete_idx", si, kemi.ReturnXval, mod.hdrGet(kemi.Str(""), true)),
		h("getw_idx", si, kemi.ReturnXval, mod.hdrGet(kemi.Str("<null>"), true)),
		h("match_content", []kemi.ParamKind{kemi.ParamStr, kemi.ParamStr, kemi.ParamStr, kemi.ParamStr},
			kemi.ReturnBool, mod.hdrMatchContent),
	}
}

// headerAdder puts parsed headers into the message; anchor is the header
// name of append_after/insert_before.
type headerAdder func(m *kemi.Msg, hs []sip.Header, anchor string)

// Headers added at one place keep the order they were added in, as
// Kamailio's lumps: two inserts give the first one on top.

// addAppend adds after the last header.
func addAppend(m *kemi.Msg, hs []sip.Header, _ string) {
	m.AppendHeaders(hs...)
	m.MarkAdded(hs...)
}

// addInsert adds before the first header (below those inserted before).
func addInsert(m *kemi.Msg, hs []sip.Header, _ string) { m.AddHeadersFirst(hs...) }

// addAfter adds after the first header called anchor (below those added
// after it before), or after the last header when there is none.
func addAfter(m *kemi.Msg, hs []sip.Header, anchor string) {
	i := m.IndexOfHeader(anchor)
	if i < 0 {
		addAppend(m, hs, "")
		return
	}
	m.AddHeadersAfter(i, hs...)
}

// addBefore adds before the first header called anchor, or before the
// first header when there is none.
func addBefore(m *kemi.Msg, hs []sip.Header, anchor string) {
	i := m.IndexOfHeader(anchor)
	if i < 0 {
		addInsert(m, hs, "")
		return
	}
	m.InsertHeadersAt(i, hs...)
	m.MarkAdded(hs...)
}

// hdrAdd builds append/insert/append_after/insert_before: the first
// argument is header text ("Name: value\r\n", several lines allowed), the
// second, when anchored, the anchor header name. 1 on success, -1 on
// invalid text or name.
func (mod *Module) hdrAdd(name string, anchored bool, add headerAdder) kemi.Func {
	return func(m *kemi.Msg, a kemi.Args) kemi.Value {
		anchor := a.Str(1)
		if anchored && !kemi.ValidHeaderName(anchor) {
			m.Errorf(mod.log, "KSR.hdr.%s: invalid header name %q", name, anchor)
			return kemi.Fail
		}
		if err := mod.addHeaders(m, a.Str(0), anchor, add); err != nil {
			m.Errorf(mod.log, "KSR.hdr.%s: %v", name, err)
			return kemi.Fail
		}
		return kemi.OK
	}
}

// addHeaders parses text and adds the headers to the message.
func (mod *Module) addHeaders(m *kemi.Msg, text, anchor string, add headerAdder) error {
	if m.SIP() == nil {
		return fmt.Errorf("no message")
	}
	hs, err := kemi.ParseHeaders(text)
	if err != nil {
		return err
	}
	add(m, hs, anchor)
	return nil
}

// hdrRemove is KSR.hdr.remove(name): remove every header called name
// (compact forms match). 1 even when there was none; -1 on an invalid name.
func (mod *Module) hdrRemove(m *kemi.Msg, a kemi.Args) kemi.Value {
	if err := removeHeaders(m, a.Str(0)); err != nil {
		m.Errorf(mod.log, "KSR.hdr.remove: %v", err)
		return kemi.Fail
	}
	return kemi.OK
}

// removeHeaders checks the name and removes every header so called.
func removeHeaders(m *kemi.Msg, name string) error {
	if !kemi.ValidHeaderName(name) {
		return fmt.Errorf("invalid header name %q", name)
	}
	if m.SIP() == nil {
		return fmt.Errorf("no message")
	}
	m.RemoveHeaders(name)
	return nil
}

// hdrRemoveAdd builds rmappend/rminsert: remove the headers called by the
// first argument, then add the text of the second.
func (mod *Module) hdrRemoveAdd(name string, add headerAdder) kemi.Func {
	return func(m *kemi.Msg, a kemi.Args) kemi.Value {
		hs, err := kemi.ParseHeaders(a.Str(1))
		if err == nil {
			err = removeHeaders(m, a.Str(0))
		}
		if err != nil {
			m.Errorf(mod.log, "KSR.hdr.%s: %v", name, err)
			return kemi.Fail
		}
		add(m, hs, "")
		return kemi.OK
	}
}

// hdrIsPresent is KSR.hdr.is_present(name): 1 present, -1 absent.
func (mod *Module) hdrIsPresent(m *kemi.Msg, a kemi.Args) kemi.Value {
	name := a.Str(0)
	if !kemi.ValidHeaderName(name) {
		m.Errorf(mod.log, "KSR.hdr.is_present: invalid header name %q", name)
		return kemi.Fail
	}
	return kemi.IntBool(m.HeaderPresent(name))
}

// hdrAppendToReply is KSR.hdr.append_to_reply(text): the headers are added
// to the replies kemi generates for this request (sl, tm, auth).
func (mod *Module) hdrAppendToReply(m *kemi.Msg, a kemi.Args) kemi.Value {
	hs, err := kemi.ParseHeaders(a.Str(0))
	if err != nil {
		m.Errorf(mod.log, "KSR.hdr.append_to_reply: %v", err)
		return kemi.Fail
	}
	m.ReplyHeaders = append(m.ReplyHeaders, hs...)
	return kemi.OK
}

// hdrGet builds get/gete/getw and the _idx variants: the body of the first
// (or idx-th, 0-based, negative from the end) header called name, or def.
// On a message still lazy the body is the header's value as received and
// idx counts header lines, as in Kamailio (see kemi.Msg.HeaderBody).
func (mod *Module) hdrGet(def kemi.Value, indexed bool) kemi.Func {
	return func(m *kemi.Msg, a kemi.Args) kemi.Value {
		name := a.Str(0)
		if !kemi.ValidHeaderName(name) {
			m.Errorf(mod.log, "KSR.hdr.get: invalid header name %q", name)
			return def
		}
		idx := 0
		if indexed {
			idx = a.Int(1)
		}
		if v, ok := m.HeaderBodyAt(name, idx); ok {
			return kemi.Str(v)
		}
		return def
	}
}

// contentOps are the operators of match_content, on trimmed bodies,
// case-insensitively.
var contentOps = map[string]func(body, val string) bool{
	"eq": strings.EqualFold,
	"ne": func(b, v string) bool { return !strings.EqualFold(b, v) },
	"sw": func(b, v string) bool { return len(b) >= len(v) && strings.EqualFold(b[:len(v)], v) },
	"in": func(b, v string) bool { return strings.Contains(strings.ToLower(b), strings.ToLower(v)) },
}

// hdrMatchContent is KSR.hdr.match_content(name, op, value, which):
// compare the bodies of the headers called name with value. op is eq, ne,
// sw (starts with) or in (contains); which is f (first header), l (last),
// a (all must match) or o (at least one). No such header gives false.
func (mod *Module) hdrMatchContent(m *kemi.Msg, a kemi.Args) kemi.Value {
	name, op, val, which := a.Str(0), strings.ToLower(a.Str(1)), a.Str(2), strings.ToLower(a.Str(3))
	match, ok := contentOps[op]
	switch {
	case !kemi.ValidHeaderName(name):
		m.Errorf(mod.log, "KSR.hdr.match_content: invalid header name %q", name)
		return kemi.False
	case !ok:
		m.Errorf(mod.log, "KSR.hdr.match_content: invalid operator %q (eq, ne, sw, in)", op)
		return kemi.False
	case which == "" || strings.IndexByte("flao", which[0]) < 0:
		m.Errorf(mod.log, "KSR.hdr.match_content: invalid header index %q (f, l, a, o)", which)
		return kemi.False
	}
	bodies := m.HeaderBodies(name)
	if len(bodies) == 0 {
		return kemi.False
	}
	test := func(b string) bool { return match(strings.TrimSpace(b), val) }
	switch which[0] {
	case 'f':
		return kemi.Bool(test(bodies[0]))
	case 'l':
		return kemi.Bool(test(bodies[len(bodies)-1]))
	case 'a':
		for _, b := range bodies {
			if !test(b) {
				return kemi.False
			}
		}
		return kemi.True
	}
	for _, b := range bodies {
		if test(b) {
			return kemi.True
		}
	}
	return kemi.False
}
