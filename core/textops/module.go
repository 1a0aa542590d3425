// Package textops is Kamailio's textops module: regular expression search
// and replace over the message, its headers and its body, sed-like
// substitutions, header removal, body and multipart body handling, and
// string helpers.
//
// Changes are applied to the message at once (Kamailio queues them as
// "lumps" and applies them when the message is sent), so a later function
// in the same route sees them.
package textops

import (
	"log/slog"
	"regexp"

	"github.com/VictoriaMetrics/metrics"
	"github.com/kemisip/kemi/kemi"
)

func init() {
	kemi.Register(kemi.ModuleInfo{Name: "textops", Order: 80, New: func() kemi.Module { return &Module{} }})
}

// maxCachedRE bounds the number of cached regular expressions, and
// maxCachedSubst that of parsed sed-like expressions.
const (
	maxCachedRE    = 1024
	maxCachedSubst = 1024
)

// Module is the textops module of one engine.
type Module struct {
	log   *slog.Logger
	pvs   *kemi.PVTable
	cache *kemi.RegexCache
	// substs are the parsed subst* expressions by their text, errors too.
	substs *kemi.Cache[string, parsedSubst]

	reErrors      *metrics.Counter
	rebuildErrors *metrics.Counter
}

// ModInit keeps the logger and the pseudo-variable table and creates the
// expression cache and the metrics.
func (mod *Module) ModInit(env *kemi.Env) error {
	mod.log = env.Logger
	mod.pvs = env.PVs
	mod.cache = kemi.NewRegexCache(maxCachedRE)
	mod.substs = kemi.NewCache[string, parsedSubst](maxCachedSubst)
	mod.reErrors = env.Metrics.NewCounter(`kemi_textops_expression_errors_total`, "Invalid regular expressions and substitution expressions given to textops functions.")
	mod.rebuildErrors = env.Metrics.NewCounter(`kemi_textops_rebuild_errors_total`, "Text changes refused because the result was not a valid SIP message.")
	cache := mod.cache
	env.Metrics.NewGauge(`kemi_textops_regex_cache_entries`, "Compiled regular expressions in the cache.", func() float64 { return float64(cache.Len()) })
	return nil
}

// re returns the compiled expression, or nil after logging why not.
func (mod *Module) re(m *kemi.Msg, fn, pat string, fl kemi.RegexFlags) *regexp.Regexp {
	re, err := mod.cache.Get(pat, fl)
	if err != nil {
		mod.reErrors.Inc()
		m.Errorf(mod.log, "%s: invalid regular expression %q: %v", fn, pat, err)
		return nil
	}
	return re
}

// Exports returns KSR.textops.
func (mod *Module) Exports() []kemi.Export {
	S, SS, SSS, none := kemi.S, kemi.SS, kemi.SSS, []kemi.ParamKind(nil)
	x := func(name string, params []kemi.ParamKind, f kemi.Func) kemi.Export {
		return kemi.Export{Module: "textops", Name: name, Params: params, Return: kemi.ReturnInt, Func: f}
	}
	return []kemi.Export{
		// search
		x("search", S, mod.search),
		x("search_body", S, mod.searchBody),
		x("search_hf", SSS, mod.searchHF),
		x("search_str", SS, mod.searchStr),
		x("search_append", SS, mod.searchAppend),
		x("search_append_body", SS, mod.searchAppendBody),

		// replace
		x("replace", SS, func(m *kemi.Msg, a kemi.Args) kemi.Value { return mod.replaceRegion(m, "replace", a, regionAll, false) }),
		x("replace_all", SS, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.replaceRegion(m, "replace_all", a, regionAll, true)
		}),
		x("replace_hdrs", SS, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.replaceRegion(m, "replace_hdrs", a, regionHeaders, false)
		}),
		x("replace_body", SS, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.replaceRegion(m, "replace_body", a, regionBody, false)
		}),
		x("replace_body_all", SS, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.replaceRegion(m, "replace_body_all", a, regionBody, true)
		}),
		x("replace_body_atonce", SS, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.replaceRegion(m, "replace_body_atonce", a, regionBody, true)
		}),
		x("replace_str", SSS, func(m *kemi.Msg, a kemi.Args) kemi.Value { return mod.replaceStr(m, "replace_str", a, regionAll) }),
		x("replace_hdrs_str", SSS, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.replaceStr(m, "replace_hdrs_str", a, regionHeaders)
		}),
		x("replace_body_str", SSS, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.replaceStr(m, "replace_body_str", a, regionBody)
		}),

		// sed-like substitutions
		x("subst", S, mod.subst),
		x("subst_uri", S, mod.substURI),
		x("subst_user", S, mod.substUser),
		x("subst_body", S, mod.substBody),
		x("subst_hf", SSS, mod.substHF),
		x("subst_v", SSS, mod.substV),
		x("regex_substring", []kemi.ParamKind{kemi.ParamStr, kemi.ParamStr, kemi.ParamInt, kemi.ParamInt, kemi.ParamStr}, mod.regexSubstring),

		// headers
		x("is_present_hf", S, mod.isPresentHF),
		x("is_present_hf_re", S, mod.isPresentHFRe),
		x("remove_hf", S, mod.removeHF),
		x("remove_hf_re", S, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.removeHFExp(m, "remove_hf_re", a.Str(0), "", false)
		}),
		x("remove_hf_exp", SS, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.removeHFExp(m, "remove_hf_exp", a.Str(0), a.Str(1), true)
		}),
		x("remove_hf_idx", kemi.SI, mod.removeHFIdx),
		x("remove_hf_match", SSS, mod.removeHFMatch),
		x("is_privacy", S, mod.isPrivacy),

		// body
		x("has_body", none, func(m *kemi.Msg, a kemi.Args) kemi.Value { return mod.hasBody(m, "") }),
		x("has_body_type", S, func(m *kemi.Msg, a kemi.Args) kemi.Value { return mod.hasBody(m, a.Str(0)) }),
		x("set_body", SS, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.setBody(m, "set_body", a.Str(0), a.Str(1), false)
		}),
		x("set_body_hex", SS, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.setBody(m, "set_body_hex", a.Str(0), a.Str(1), true)
		}),
		x("set_reply_body", SS, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.setReplyBody(m, "set_reply_body", a.Str(0), a.Str(1), false)
		}),
		x("set_reply_body_hex", SS, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.setReplyBody(m, "set_reply_body_hex", a.Str(0), a.Str(1), true)
		}),
		x("is_audio_on_hold", none, mod.isAudioOnHold),

		// multipart bodies
		x("filter_body", S, mod.filterBody),
		x("get_body_part", SS, func(m *kemi.Msg, a kemi.Args) kemi.Value { return mod.getBodyPart(m, "get_body_part", a, false) }),
		x("get_body_part_raw", SS, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.getBodyPart(m, "get_body_part_raw", a, true)
		}),
		x("remove_body_part", S, mod.removeBodyPart),
		x("append_body_part", SS, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.appendBodyPart(m, "append_body_part", a.Str(0), a.Str(1), "", false)
		}),
		x("append_body_part_cd", SSS, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.appendBodyPart(m, "append_body_part_cd", a.Str(0), a.Str(1), a.Str(2), false)
		}),
		x("append_body_part_hex", SS, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.appendBodyPart(m, "append_body_part_hex", a.Str(0), a.Str(1), "", true)
		}),
		x("append_body_part_hex_cd", SSS, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.appendBodyPart(m, "append_body_part_hex_cd", a.Str(0), a.Str(1), a.Str(2), true)
		}),
		x("set_body_multipart", SSS, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.setBodyMultipart(m, a.Str(0), a.Str(1), a.Str(2))
		}),
		x("set_body_multipart_mode", none, func(m *kemi.Msg, a kemi.Args) kemi.Value { return mod.setBodyMultipart(m, "", "", "") }),
		x("set_body_multipart_boundary", S, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.setBodyMultipart(m, "", "", a.Str(0))
		}),
		x("set_body_multipart_content", SS, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.setBodyMultipart(m, a.Str(0), a.Str(1), "")
		}),

		// strings
		x("in_list", SSS, func(m *kemi.Msg, a kemi.Args) kemi.Value { return inList(a.Str(0), a.Str(1), a.Str(2), false) }),
		x("in_list_prefix", SSS, func(m *kemi.Msg, a kemi.Args) kemi.Value { return inList(a.Str(0), a.Str(1), a.Str(2), true) }),
		x("cmp_str", SS, func(m *kemi.Msg, a kemi.Args) kemi.Value { return cmpStr(a.Str(0), a.Str(1), false) }),
		x("cmp_istr", SS, func(m *kemi.Msg, a kemi.Args) kemi.Value { return cmpStr(a.Str(0), a.Str(1), true) }),
		x("starts_with", SS, func(m *kemi.Msg, a kemi.Args) kemi.Value { return startsWith(a.Str(0), a.Str(1)) }),
		x("ends_with", SS, func(m *kemi.Msg, a kemi.Args) kemi.Value { return endsWith(a.Str(0), a.Str(1)) }),
		x("str_find", SS, func(m *kemi.Msg, a kemi.Args) kemi.Value { return strFind(a.Str(0), a.Str(1), false) }),
		x("str_ifind", SS, func(m *kemi.Msg, a kemi.Args) kemi.Value { return strFind(a.Str(0), a.Str(1), true) }),
		x("str_any_in", SS, func(m *kemi.Msg, a kemi.Args) kemi.Value { return strAnyIn(a.Str(0), a.Str(1)) }),
		x("str_all_in", SS, func(m *kemi.Msg, a kemi.Args) kemi.Value { return strAllIn(a.Str(0), a.Str(1)) }),
	}
}

var _ kemi.ModIniter = (*Module)(nil)
