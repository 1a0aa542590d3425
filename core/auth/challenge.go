package auth

import (
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/kemi"
)

// Challenge flags of auth_challenge, www_challenge, proxy_challenge and
// auth_get_www_authenticate, as Kamailio's.
const (
	flagQopAuth    = 1  // qop="auth"
	flagQopAuthInt = 2  // qop="auth-int" (wins over 1)
	flagNoError    = 4  // no 500 reply when the challenge cannot be built
	flagStale      = 16 // stale=true
)

// Flags of the pv_* functions, as Kamailio's AUTH_FLAG_*.
const (
	pvFlagPasswdHA1   = 1 // the password is the HA1
	pvFlagHdrQopNone  = 2 // on failure, the challenge (no qop) goes to challenge_attr
	pvFlagHdrQopAuth  = 4 // ... with qop="auth"
	pvFlagHdrQopInt   = 8 // ... with qop="auth-int"
	pvFlagHdrAnyChall = pvFlagHdrQopNone | pvFlagHdrQopAuth | pvFlagHdrQopInt
)

// challengeHeaders returns the challenge for realm as header lines, one
// per configured algorithm (Kamailio makes one), all with the same
// nonce: `Digest realm="r", nonce="n", qop="auth", stale=true,
// algorithm=SHA-256`, in Kamailio's order and spelling. m may be nil
// (auth_get_www_authenticate): the nonce is then bound to no request.
func (mod *Module) challengeHeaders(m *kemi.Msg, realm, qop string, stale, www bool) []sip.Header {
	checks := mod.checksFor(m)
	nonce := mod.nonc.issue(realm, checks, fieldsOf(m, checks))
	name := mod.proxyHeader
	if www {
		name = mod.wwwHeader
	}
	set := mod.algs.Load()
	out := make([]sip.Header, 0, len(set.list))
	for _, a := range set.list {
		var b strings.Builder
		b.WriteString(`Digest realm="`)
		b.WriteString(realm)
		b.WriteString(`", nonce="`)
		b.WriteString(nonce)
		b.WriteByte('"')
		if qop != "" {
			b.WriteString(`, qop="`)
			b.WriteString(qop)
			b.WriteByte('"')
		}
		if stale {
			b.WriteString(", stale=true")
		}
		if set.named {
			b.WriteString(", algorithm=")
			b.WriteString(a.name)
		}
		out = append(out, sip.NewHeader(name, b.String()))
	}
	mod.challenges.Inc()
	return out
}

// headerText is the headers as Kamailio's challenge text: each line
// "Name: value" with CRLF.
func headerText(hs []sip.Header) string {
	var b strings.Builder
	for _, h := range hs {
		b.WriteString(h.Name())
		b.WriteString(": ")
		b.WriteString(h.Value())
		b.WriteString("\r\n")
	}
	return b.String()
}

// qopOf returns the qop the challenge flags ask for.
func qopOf(flags int) string {
	switch {
	case flags&flagQopAuthInt != 0:
		return "auth-int"
	case flags&flagQopAuth != 0:
		return "auth"
	}
	return ""
}

// challenge sends a 401 (www) or 407 with the challenge for realm, as
// Kamailio's auth_challenge_helper. The challenge says stale=true when
// flag 16 is set, and, unlike Kamailio's, also when the credentials of
// this request were stale, so that the UA retries without asking its
// user (RFC 2617 §3.2.1).
func (mod *Module) challenge(m *kemi.Msg, realm string, flags int, www bool) kemi.Value {
	if !m.IsRequest() {
		m.Errorf(mod.log, "auth: cannot challenge a reply")
		return kemi.Fail
	}
	if realm == "" {
		m.Errorf(mod.log, "auth: empty realm")
		return kemi.Fail
	}
	stale := flags&flagStale != 0
	if a := noted(m); a != nil && a.stale {
		stale = true
	}
	hs := mod.challengeHeaders(m, realm, qopOf(flags), stale, www)
	code, reason := 407, "Proxy Authentication Required"
	if www {
		code, reason = 401, "Unauthorized"
	}
	if !mod.reply(m, code, reason, hs) {
		return kemi.Int(-3)
	}
	return kemi.OK
}

// reply sends the challenge: through tm when the request has a
// transaction (Kamailio's sl freply), statelessly otherwise or with
// force_stateless_reply. The headers go on this reply only.
func (mod *Module) reply(m *kemi.Msg, code int, reason string, hs []sip.Header) bool {
	saved := m.ReplyHeaders
	m.ReplyHeaders = append(append([]sip.Header(nil), saved...), hs...)
	defer func() { m.ReplyHeaders = saved }()
	if !mod.stateless && mod.tm != nil {
		done, err := mod.tm.StatefulReply(m, code, reason)
		if done {
			if err != nil {
				mod.log.Warn("challenge: stateful reply failed", "err", err, "at", m.Where())
				return false
			}
			return true
		}
	}
	if err := m.Host.Reply(m, m.NewReply(code, reason)); err != nil {
		mod.log.Warn("challenge: reply failed", "err", err, "at", m.Where())
		return false
	}
	return true
}
