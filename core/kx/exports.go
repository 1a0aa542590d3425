package kx

import (
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/kemi"
)

// nullMode is what an xval getter gives when the item is absent, as
// Kamailio's SR_KEMI_XVAL_NULL_* modes: get_* give nil, gete_* an empty
// string and getw_* the text "<null>".
type nullMode uint8

const (
	nullNone  nullMode = iota // nil
	nullEmpty                 // ""
	nullPrint                 // "<null>"
)

func (n nullMode) value() kemi.Value {
	switch n {
	case nullEmpty:
		return kemi.Str("")
	case nullPrint:
		return kemi.Str("<null>")
	}
	return kemi.Null
}

// strOr returns s when ok, else the null value of mode.
func strOr(s string, ok bool, mode nullMode) kemi.Value {
	if !ok {
		return mode.value()
	}
	return kemi.Str(s)
}

// getter reads one string attribute of a message; ok is false when it is
// absent.
type getter func(m *kemi.Msg) (s string, ok bool)

// xval makes an export without parameters returning a string or nil.
func xval(name string, get getter, mode nullMode) kemi.Export {
	return kemi.Export{Module: "kx", Name: name, Return: kemi.ReturnXval, Func: func(m *kemi.Msg, a kemi.Args) kemi.Value {
		s, ok := get(m)
		return strOr(s, ok, mode)
	}}
}

// number makes an export without parameters returning an int.
func number(name string, get func(m *kemi.Msg) int64) kemi.Export {
	return kemi.Export{Module: "kx", Name: name, Return: kemi.ReturnInt, Func: func(m *kemi.Msg, a kemi.Args) kemi.Value {
		return kemi.Int64(get(m))
	}}
}

// Exports returns KSR.kx.
func (mod *Module) Exports() []kemi.Export {
	var x []kemi.Export

	// the attributes with get_ (nil), gete_ ("") and getw_ ("<null>") forms
	for _, g := range []struct {
		attr string
		get  getter
	}{
		{"ruser", ruser},
		{"rhost", rhost},
		{"fuser", func(m *kemi.Msg) (string, bool) { return uriPart(fromURI(m), partUser) }},
		{"fhost", func(m *kemi.Msg) (string, bool) { return uriPart(fromURI(m), partHost) }},
		{"tuser", func(m *kemi.Msg) (string, bool) { return uriPart(toURI(m), partUser) }},
		{"thost", func(m *kemi.Msg) (string, bool) { return uriPart(toURI(m), partHost) }},
		{"ua", func(m *kemi.Msg) (string, bool) { return m.HeaderValue("User-Agent") }},
		{"au", authUser},
		{"body", func(m *kemi.Msg) (string, bool) { b := m.Body(); return string(b), len(b) > 0 }},
		{"duri", func(m *kemi.Msg) (string, bool) { return m.DstURI, m.DstURI != "" }},
		{"cturi", contactURI},
	} {
		x = append(x,
			xval("get_"+g.attr, g.get, nullNone),
			xval("gete_"+g.attr, g.get, nullEmpty),
			xval("getw_"+g.attr, g.get, nullPrint))
	}

	x = append(x,
		// URIs
		xval("get_ruri", ruri, nullNone),
		xval("get_ouri", func(m *kemi.Msg) (string, bool) { return m.OrigURI, m.IsRequest() && m.OrigURI != "" }, nullNone),
		xval("get_furi", func(m *kemi.Msg) (string, bool) { return uriText(fromURI(m)) }, nullNone),
		xval("get_turi", func(m *kemi.Msg) (string, bool) { return uriText(toURI(m)) }, nullNone),
		xval("get_nhuri", func(m *kemi.Msg) (string, bool) {
			if m.DstURI != "" {
				return m.DstURI, true
			}
			return ruri(m)
		}, nullNone),

		// source
		xval("get_srcip", func(m *kemi.Msg) (string, bool) {
			if !m.Src.IsValid() {
				return "", false
			}
			return m.Src.Addr().Unmap().String(), true
		}, nullNone),
		kemi.Export{Module: "kx", Name: "get_srcport", Return: kemi.ReturnXval, Func: func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return kemi.Int(int(m.Src.Port()))
		}},
		xval("get_srcuri", (*kemi.Msg).SourceURI, nullEmpty),
		xval("get_srcaddr_sock", srcAddrSock, nullEmpty),

		// receiving socket
		xval("get_rcvip", rcvIP, nullNone),
		kemi.Export{Module: "kx", Name: "get_rcvport", Return: kemi.ReturnXval, Func: func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return kemi.Int(rcvPort(m))
		}},
		xval("get_rcv_sock_name", func(m *kemi.Msg) (string, bool) {
			if m.Rcv == nil {
				return "", false
			}
			return m.Rcv.Name, m.Rcv.Name != ""
		}, nullNone),
		xval("get_rcvadvip", func(m *kemi.Msg) (string, bool) {
			if m.Rcv != nil && m.Rcv.AdvHost != "" {
				return m.Rcv.AdvHost, true
			}
			return rcvIP(m)
		}, nullNone),
		kemi.Export{Module: "kx", Name: "get_rcvadvport", Return: kemi.ReturnXval, Func: func(m *kemi.Msg, a kemi.Args) kemi.Value {
			if m.Rcv != nil && m.Rcv.AdvPort != 0 {
				return kemi.Int(m.Rcv.AdvPort)
			}
			return kemi.Int(rcvPort(m))
		}},
		xval("get_rcvaddr_sock", func(m *kemi.Msg) (string, bool) {
			if m.Rcv == nil {
				return "", false
			}
			return m.Rcv.String(), true
		}, nullEmpty),

		// forced send socket
		xval("get_send_sock", func(m *kemi.Msg) (string, bool) {
			if m.SendSock == nil {
				return "", false
			}
			return m.SendSock.String(), true
		}, nullNone),
		xval("get_send_sock_name", func(m *kemi.Msg) (string, bool) {
			if m.SendSock == nil {
				return "", false
			}
			return m.SendSock.Name, m.SendSock.Name != ""
		}, nullNone),
		number("get_send_sock_port", func(m *kemi.Msg) int64 {
			if m.SendSock == nil {
				return 0
			}
			return int64(m.SendSock.Addr.Port())
		}),

		// transport
		xval("get_proto", func(m *kemi.Msg) (string, bool) {
			p := strings.ToLower(m.Proto)
			return p, kemi.ProtoID(p) != 0
		}, nullEmpty),
		number("get_protoid", func(m *kemi.Msg) int64 { return int64(kemi.ProtoID(m.Proto)) }),
		number("get_conid", func(m *kemi.Msg) int64 {
			if m.ConnID == 0 || m.ConnID > math.MaxInt64 {
				return -1
			}
			return int64(m.ConnID)
		}),

		// first line and headers
		xval("get_method", func(m *kemi.Msg) (string, bool) { s := m.Method(); return s, s != "" }, nullNone),
		number("get_status", func(m *kemi.Msg) int64 {
			if !m.IsReply() {
				return -1
			}
			return int64(m.Response().StatusCode)
		}),
		xval("gets_status", func(m *kemi.Msg) (string, bool) {
			if !m.IsReply() {
				return "", false
			}
			return strconv.Itoa(m.Response().StatusCode), true
		}, nullNone),
		xval("get_callid", func(m *kemi.Msg) (string, bool) { return m.HeaderValue("Call-ID") }, nullEmpty),
		number("get_bodylen", func(m *kemi.Msg) int64 { return int64(len(m.Body())) }),

		// the whole message
		xval("get_msgbuf", func(m *kemi.Msg) (string, bool) { return string(m.Wire()), true }, nullEmpty),
		number("get_msglen", func(m *kemi.Msg) int64 { return int64(len(m.Wire())) }),
		number("get_msgtype", func(m *kemi.Msg) int64 {
			switch {
			case m.IsRequest():
				return 1
			case m.IsReply():
				return 2
			}
			return 0
		}),
		number("get_timestamp", func(m *kemi.Msg) int64 { return time.Now().Unix() }),

		// defines and environment
		kemi.Export{Module: "kx", Name: "get_def", Params: kemi.S, Return: kemi.ReturnXval, Func: func(m *kemi.Msg, a kemi.Args) kemi.Value {
			v, ok := mod.define(a.Str(0))
			return strOr(v, ok, nullEmpty)
		}},
		kemi.Export{Module: "kx", Name: "get_defn", Params: kemi.S, Return: kemi.ReturnInt, Func: func(m *kemi.Msg, a kemi.Args) kemi.Value {
			v, _ := mod.define(a.Str(0))
			return kemi.Int64(leadingInt(v))
		}},
		kemi.Export{Module: "kx", Name: "ifdef", Params: kemi.S, Return: kemi.ReturnBool, Func: func(m *kemi.Msg, a kemi.Args) kemi.Value {
			_, ok := mod.define(a.Str(0))
			return kemi.Bool(ok)
		}},
		kemi.Export{Module: "kx", Name: "ifndef", Params: kemi.S, Return: kemi.ReturnBool, Func: func(m *kemi.Msg, a kemi.Args) kemi.Value {
			_, ok := mod.define(a.Str(0))
			return kemi.Bool(!ok)
		}},
		kemi.Export{Module: "kx", Name: "get_env", Params: kemi.S, Return: kemi.ReturnXval, Func: func(m *kemi.Msg, a kemi.Args) kemi.Value {
			v, ok := lookupEnv(a.Str(0))
			return strOr(v, ok, nullEmpty)
		}},
		kemi.Export{Module: "kx", Name: "get_envn", Params: kemi.S, Return: kemi.ReturnInt, Func: func(m *kemi.Msg, a kemi.Args) kemi.Value {
			v, _ := lookupEnv(a.Str(0))
			return kemi.Int64(leadingInt(v))
		}},
	)
	return x
}

// define returns the value of a -D define.
func (mod *Module) define(name string) (string, bool) {
	if name == "" || mod.defines == nil {
		return "", false
	}
	v, ok := mod.defines[name]
	return v, ok
}

func lookupEnv(name string) (string, bool) {
	if name == "" {
		return "", false
	}
	return os.LookupEnv(name)
}

// leadingInt converts text the way Kamailio's str2sint does for
// get_defn/get_envn: an optional sign and the digits that follow, up to the
// first other character, clamped to 32 bits; no digits give 0.
func leadingInt(s string) int64 {
	i, neg := 0, false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		i++
	}
	var n int64
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		n = n*10 + int64(s[i]-'0')
		if n > math.MaxInt32+1 {
			n = math.MaxInt32 + 1
		}
	}
	if neg {
		return max(-n, math.MinInt32)
	}
	return min(n, math.MaxInt32)
}

func ruri(m *kemi.Msg) (string, bool) {
	if !m.IsRequest() {
		return "", false
	}
	return m.RURI(), true
}

func ruser(m *kemi.Msg) (string, bool) {
	if !m.IsRequest() {
		return "", false
	}
	return m.Request().Recipient.User, m.Request().Recipient.User != ""
}

func rhost(m *kemi.Msg) (string, bool) {
	if !m.IsRequest() {
		return "", false
	}
	return m.Request().Recipient.Host, m.Request().Recipient.Host != ""
}

func fromURI(m *kemi.Msg) *sip.Uri {
	if s := m.SIP(); s != nil {
		if h := s.From(); h != nil {
			return &h.Address
		}
	}
	return nil
}

func toURI(m *kemi.Msg) *sip.Uri {
	if s := m.SIP(); s != nil {
		if h := s.To(); h != nil {
			return &h.Address
		}
	}
	return nil
}

func uriText(u *sip.Uri) (string, bool) {
	if u == nil {
		return "", false
	}
	return u.String(), true
}

const (
	partUser = iota
	partHost
)

func uriPart(u *sip.Uri, part int) (string, bool) {
	if u == nil {
		return "", false
	}
	s := u.Host
	if part == partUser {
		s = u.User
	}
	return s, s != ""
}

// contactURI returns the URI of the first Contact; a "*" Contact has none.
func contactURI(m *kemi.Msg) (string, bool) {
	for _, h := range m.HeaderList() {
		if kemi.CanonicalHeader(h.Name()) != "contact" {
			continue
		}
		if c, ok := h.(*sip.ContactHeader); ok {
			if c.Address.Wildcard {
				return "", false
			}
			return c.Address.String(), true
		}
		text := strings.TrimSpace(h.Value())
		if text == "*" {
			return "", false
		}
		var u sip.Uri
		params := sip.NewParams()
		if _, err := sip.ParseAddressValue(text, &u, &params); err != nil || u.Wildcard {
			return "", false
		}
		return u.String(), true
	}
	return "", false
}

// authUser returns the user part of the Digest username (see
// kemi.Msg.Credentials), like $aU; absent without a username parameter.
func authUser(m *kemi.Msg) (string, bool) {
	d, ok := m.Credentials()
	if !ok {
		return "", false
	}
	if _, ok := d.Param("username"); !ok {
		return "", false
	}
	return d.User, true
}

// srcAddrSock is "proto:ip:port" of the source.
func srcAddrSock(m *kemi.Msg) (string, bool) {
	tp, ok := kemi.URIProto(m.Proto)
	if !ok || !m.Src.IsValid() {
		return "", false
	}
	return tp + ":" + kemi.HostPort(m.Src.Addr().String(), int(m.Src.Port())), true
}

func rcvIP(m *kemi.Msg) (string, bool) {
	if m.Rcv == nil || !m.Rcv.Addr.IsValid() {
		return "", false
	}
	return m.Rcv.Addr.Addr().Unmap().String(), true
}

func rcvPort(m *kemi.Msg) int {
	if m.Rcv == nil {
		return 0
	}
	return int(m.Rcv.Addr.Port())
}
