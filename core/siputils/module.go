// Package siputils is Kamailio's siputils module: SIP message and URI tests
// and helpers (has_totag, is_first_hop, uri_param, cmp_uri, options_reply,
// contact encoding, ...).
package siputils

import (
	"fmt"
	"log/slog"

	"github.com/VictoriaMetrics/metrics"
	"github.com/kemisip/kemi/kemi"
)

func init() {
	kemi.Register(kemi.ModuleInfo{Name: "siputils", Order: 70, New: func() kemi.Module { return &Module{} }})
}

// Module is the siputils module of one engine.
type Module struct {
	log *slog.Logger
	svc *kemi.Services

	// options_reply
	optAccept     string
	optAcceptEnc  string
	optAcceptLang string
	optSupported  string
	optAllow      string
	// encode_contact / decode_contact
	sep byte

	optReplies *metrics.Counter
	optFailed  *metrics.Counter
}

// ModInit reads the parameters and creates the metrics.
func (mod *Module) ModInit(env *kemi.Env) error {
	mod.log = env.Logger
	mod.svc = env.Services
	p := env.Params
	mod.optAccept = p.Str("options_accept", "*/*")
	mod.optAcceptEnc = p.Str("options_accept_encoding", "")
	mod.optAcceptLang = p.Str("options_accept_language", "en")
	mod.optSupported = p.Str("options_support", "")
	mod.optAllow = p.Str("options_allow", "")
	sep := p.Str("contact_flds_separator", "*")
	if sep == "" {
		return fmt.Errorf("siputils: contact_flds_separator must not be empty")
	}
	mod.sep = sep[0]
	mod.optReplies = env.Metrics.NewCounter(`kemi_siputils_options_replies_total`, "Replies sent by options_reply.")
	mod.optFailed = env.Metrics.NewCounter(`kemi_siputils_options_reply_errors_total`, "options_reply answers that could not be sent.")
	return nil
}

// Exports returns KSR.siputils.
func (mod *Module) Exports() []kemi.Export {
	S, SS, none := kemi.S, kemi.SS, []kemi.ParamKind(nil)
	x := func(name string, params []kemi.ParamKind, f kemi.Func) kemi.Export {
		return kemi.Export{Module: "siputils", Name: name, Params: params, Return: kemi.ReturnInt, Func: f}
	}
	return []kemi.Export{
		// message tests
		x("has_totag", none, mod.hasTotag),
		x("is_request", none, func(m *kemi.Msg, a kemi.Args) kemi.Value { return kemi.IntBool(m.IsRequest()) }),
		x("is_reply", none, func(m *kemi.Msg, a kemi.Args) kemi.Value { return kemi.IntBool(m.IsReply()) }),
		x("is_sip", none, func(m *kemi.Msg, a kemi.Args) kemi.Value { return kemi.IntBool(m.HasMessage()) }),
		x("is_http", none, func(m *kemi.Msg, a kemi.Args) kemi.Value { return kemi.Fail }),
		x("is_first_hop", none, func(m *kemi.Msg, a kemi.Args) kemi.Value { return mod.isFirstHop(m, 0) }),
		x("is_first_hop_mode", kemi.I, func(m *kemi.Msg, a kemi.Args) kemi.Value { return mod.isFirstHop(m, a.Int(0)) }),
		x("is_user", S, mod.isUser),
		x("is_gruu", none, mod.isGruu),
		x("hdr_date_check", kemi.I, mod.hdrDateCheck),
		// the engine parsed and checked every header of a received message
		x("sip_parse_headers", none, func(m *kemi.Msg, a kemi.Args) kemi.Value { return kemi.IntBool(m.HasMessage()) }),

		// values
		x("is_uri", S, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			_, err := parseURI(a.Str(0))
			return kemi.IntBool(err == nil)
		}),
		x("is_tel_number", S, func(m *kemi.Msg, a kemi.Args) kemi.Value { return isTelNumber(a.Str(0)) }),
		x("is_numeric", S, func(m *kemi.Msg, a kemi.Args) kemi.Value { return isNumeric(a.Str(0)) }),
		x("is_alphanum", S, func(m *kemi.Msg, a kemi.Args) kemi.Value { return isAlphanumEx(a.Str(0), "") }),
		x("is_alphanumex", SS, func(m *kemi.Msg, a kemi.Args) kemi.Value { return isAlphanumEx(a.Str(0), a.Str(1)) }),
		x("cmp_uri", SS, func(m *kemi.Msg, a kemi.Args) kemi.Value { return mod.cmpURIs(m, a, "cmp_uri", equalURI) }),
		x("cmp_aor", SS, func(m *kemi.Msg, a kemi.Args) kemi.Value { return mod.cmpURIs(m, a, "cmp_aor", equalAoR) }),
		x("cmp_hdr_name", SS, mod.cmpHdrName),

		// R-URI parameters
		x("uri_param", S, func(m *kemi.Msg, a kemi.Args) kemi.Value { return mod.uriParam(m, a.Str(0), "", false) }),
		x("uri_param_value", SS, func(m *kemi.Msg, a kemi.Args) kemi.Value { return mod.uriParam(m, a.Str(0), a.Str(1), true) }),
		x("uri_param_any", S, mod.uriParamAny),
		x("uri_param_rm", S, mod.uriParamRm),
		x("add_uri_param", S, mod.addURIParam),

		// OPTIONS keepalives
		x("options_reply", none, mod.optionsReply),

		// Contact encoding
		x("encode_contact", SS, mod.encodeContact),
		x("decode_contact", none, mod.decodeContact),
		x("decode_contact_header", none, mod.decodeContactHeader),
		x("contact_param_encode", SS, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.contactParamEncode(m, a.Str(0), a.Str(1), false)
		}),
		x("contact_param_encode_alias", SS, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.contactParamEncode(m, a.Str(0), a.Str(1), true)
		}),
		x("contact_param_decode", S, mod.contactParamDecode),
		x("contact_param_decode_ruri", S, mod.contactParamDecodeRURI),
		x("contact_param_rm", S, mod.contactParamRm),
		x("contact_param_check", S, mod.contactParamCheck),
	}
}

var _ kemi.ModIniter = (*Module)(nil)
