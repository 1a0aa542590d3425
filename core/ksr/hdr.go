package ksr

import (
	"fmt"
	"strings"

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
		h("append", kemi.S, kemi.ReturnInt, mod.hdrAdd("append", false, kemi.PlaceLast)),
		h("append_after", kemi.SS, kemi.ReturnInt, mod.hdrAdd("append_after", true, kemi.PlaceAfter)),
		h("insert", kemi.S, kemi.ReturnInt, mod.hdrAdd("insert", false, kemi.PlaceFirst)),
		h("insert_before", kemi.SS, kemi.ReturnInt, mod.hdrAdd("insert_before", true, kemi.PlaceBefore)),
		h("remove", kemi.S, kemi.ReturnInt, mod.hdrRemove),
		h("rmappend", kemi.SS, kemi.ReturnInt, mod.hdrRemoveAdd("rmappend", kemi.PlaceLast)),
		h("rminsert", kemi.SS, kemi.ReturnInt, mod.hdrRemoveAdd("rminsert", kemi.PlaceFirst)),
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

// hdrAdd builds append/insert/append_after/insert_before: the first
// argument is header text ("Name: value\r\n", several lines allowed), the
// second, when anchored, the anchor header name. 1 on success, -1 on
// invalid text or name. The headers go where kemi.HeaderPlace says, on
// whichever form the message is (a lazy one stays lazy).
func (mod *Module) hdrAdd(name string, anchored bool, place kemi.HeaderPlace) kemi.Func {
	return func(m *kemi.Msg, a kemi.Args) kemi.Value {
		anchor := a.Str(1)
		if anchored && !kemi.ValidHeaderName(anchor) {
			m.Errorf(mod.log, "KSR.hdr.%s: invalid header name %q", name, anchor)
			return kemi.Fail
		}
		if err := m.AddHeaderText(a.Str(0), place, anchor); err != nil {
			m.Errorf(mod.log, "KSR.hdr.%s: %v", name, err)
			return kemi.Fail
		}
		return kemi.OK
	}
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
	if !m.HasMessage() {
		return fmt.Errorf("no message")
	}
	m.RemoveHeaderNamed(name)
	return nil
}

// hdrRemoveAdd builds rmappend/rminsert: remove the headers called by the
// first argument, then add the text of the second.
func (mod *Module) hdrRemoveAdd(name string, place kemi.HeaderPlace) kemi.Func {
	return func(m *kemi.Msg, a kemi.Args) kemi.Value {
		hs, err := kemi.ParseHeaders(a.Str(1))
		if err == nil {
			err = removeHeaders(m, a.Str(0))
		}
		if err != nil {
			m.Errorf(mod.log, "KSR.hdr.%s: %v", name, err)
			return kemi.Fail
		}
		m.AddHeaders(place, "", hs...)
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
