package auth

import (
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/kemi"
)

// Exports returns KSR.auth.
func (mod *Module) Exports() []kemi.Export {
	x := func(name string, params []kemi.ParamKind, fn kemi.Func) kemi.Export {
		return kemi.Export{Module: "auth", Name: name, Params: params, Return: kemi.ReturnInt, Func: fn}
	}
	return []kemi.Export{
		x("auth_challenge", kemi.SI, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			// REGISTER is challenged with 401, everything else with 407
			return mod.challenge(m, a.Str(0), a.Int(1), m.IsRequest() && m.Request().Method == sip.REGISTER)
		}),
		x("www_challenge", kemi.SI, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.challenge(m, a.Str(0), a.Int(1), true)
		}),
		x("proxy_challenge", kemi.SI, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.challenge(m, a.Str(0), a.Int(1), false)
		}),
		x("auth_get_www_authenticate", []kemi.ParamKind{kemi.ParamStr, kemi.ParamInt, kemi.ParamStr}, mod.getWWWAuthenticate),
		x("consume_credentials", nil, mod.consumeCredentials),
		x("has_credentials", kemi.S, mod.hasCredentials),
		x("pv_auth_check", []kemi.ParamKind{kemi.ParamStr, kemi.ParamStr, kemi.ParamInt, kemi.ParamInt}, mod.pvAuthCheck),
		x("pv_www_authenticate", []kemi.ParamKind{kemi.ParamStr, kemi.ParamStr, kemi.ParamInt}, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return kemi.Int(mod.pvAuthenticate(m, a.Str(0), a.Str(1), a.Int(2), true, ""))
		}),
		x("pv_www_authenticate_method", []kemi.ParamKind{kemi.ParamStr, kemi.ParamStr, kemi.ParamInt, kemi.ParamStr}, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return kemi.Int(mod.pvAuthenticate(m, a.Str(0), a.Str(1), a.Int(2), true, a.Str(3)))
		}),
		x("pv_proxy_authenticate", []kemi.ParamKind{kemi.ParamStr, kemi.ParamStr, kemi.ParamInt}, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return kemi.Int(mod.pvAuthenticate(m, a.Str(0), a.Str(1), a.Int(2), false, ""))
		}),
		x("auth_algorithm", kemi.S, mod.setAlgorithm),
	}
}

// pvAuthenticate is Kamailio's pv_authenticate: the password (or, with
// flag 1, the HA1) comes from the script. With flags 2, 4 or 8 a failure
// leaves a challenge in the challenge_attr AVP. method "" is the
// request's.
func (mod *Module) pvAuthenticate(m *kemi.Msg, realm, passwd string, flags int, www bool, method string) int {
	if realm == "" || passwd == "" {
		m.Errorf(mod.log, "auth: empty realm or password")
		return kemi.AuthError
	}
	if !m.IsRequest() {
		m.Errorf(mod.log, "auth: cannot authenticate a reply")
		return kemi.AuthError
	}
	if method == "" {
		method = string(m.Request().Method)
	}
	ret := mod.Authenticate(m, realm, method, www, func(cred *kemi.Digest, alg string) (string, int) {
		if flags&pvFlagPasswdHA1 != 0 {
			return passwd, kemi.AuthOK
		}
		return mod.HA1(alg, cred.Username, realm, passwd), kemi.AuthOK
	})
	if ret < 0 && flags&pvFlagHdrAnyChall != 0 {
		qop := ""
		switch {
		case flags&pvFlagHdrQopInt != 0:
			qop = "auth-int"
		case flags&pvFlagHdrQopAuth != 0:
			qop = "auth"
		}
		stale := false
		if a := noted(m); a != nil {
			stale = a.stale
		}
		hs := mod.challengeHeaders(m, realm, qop, stale, www)
		m.AVPs.Add(mod.challengeAVP, kemi.Str(headerText(hs)))
	}
	return ret
}

// pvAuthCheck is pv_auth_check(realm, passwd, flags, checks): www
// credentials for REGISTER, proxy credentials otherwise; checks 1
// compares the user with From/To.
func (mod *Module) pvAuthCheck(m *kemi.Msg, a kemi.Args) kemi.Value {
	if !m.IsRequest() {
		m.Errorf(mod.log, "auth: cannot authenticate a reply")
		return kemi.Int(kemi.AuthError)
	}
	www := m.Request().Method == sip.REGISTER
	ret := mod.pvAuthenticate(m, a.Str(0), a.Str(1), a.Int(2), www, "")
	if ret == kemi.AuthOK && a.Int(3)&1 != 0 {
		ret = mod.CheckUser(m, false, mod.useDomain)
	}
	return kemi.Int(ret)
}

// getWWWAuthenticate is auth_get_www_authenticate(realm, flags, pv): the
// WWW-Authenticate header line(s) of a challenge, CRLF included, stored
// in the pseudo-variable pv instead of sent. The nonce is bound to no
// request, as Kamailio's.
func (mod *Module) getWWWAuthenticate(m *kemi.Msg, a kemi.Args) kemi.Value {
	realm, flags, pv := a.Str(0), a.Int(1), a.Str(2)
	if realm == "" {
		m.Errorf(mod.log, "auth: empty realm")
		return kemi.Fail
	}
	name, err := mod.pvs.Parse(pv)
	if err != nil {
		m.Errorf(mod.log, "auth_get_www_authenticate: %s: %v", pv, err)
		return kemi.Fail
	}
	hs := mod.challengeHeaders(nil, realm, qopOf(flags), flags&flagStale != 0, true)
	if err := name.Set(m, kemi.Str(headerText(hs))); err != nil {
		m.Errorf(mod.log, "auth_get_www_authenticate: %s: %v", pv, err)
		return kemi.Fail
	}
	return kemi.OK
}

// consumeCredentials removes the credentials an authentication found
// (www or proxy), so that they are not forwarded.
func (mod *Module) consumeCredentials(m *kemi.Msg, _ kemi.Args) kemi.Value {
	if !m.IsRequest() {
		return kemi.Fail
	}
	switch m.Request().Method {
	case sip.ACK, sip.CANCEL, sip.PRACK:
		return kemi.Fail
	}
	a := noted(m)
	if a == nil {
		m.Errorf(mod.log, "consume_credentials: no authorized credentials found (error in scripts)")
		return kemi.Fail
	}
	if !m.RemoveHeaderValue(a.hdr) {
		m.Errorf(mod.log, "consume_credentials: cannot remove the credentials")
		return kemi.Fail
	}
	return kemi.OK
}

// hasCredentials reports whether there are credentials for the realm,
// in Proxy-Authorization or Authorization.
func (mod *Module) hasCredentials(m *kemi.Msg, a kemi.Args) kemi.Value {
	realm := a.Str(0)
	for _, www := range []bool{false, true} {
		if h, _, _, _ := find(m, realm, www); h != nil {
			return kemi.OK
		}
	}
	return kemi.Fail
}

// setAlgorithm is auth_algorithm(alg): the algorithm challenged and
// accepted from now on, by every worker (Kamailio: by the calling
// process). kemi also takes its list form, "SHA-256,MD5".
func (mod *Module) setAlgorithm(m *kemi.Msg, a kemi.Args) kemi.Value {
	set, err := parseAlgorithms(a.Str(0))
	if err != nil || strings.TrimSpace(a.Str(0)) == "" {
		m.Errorf(mod.log, "auth_algorithm: invalid algorithm %q (MD5, SHA-256)", a.Str(0))
		return kemi.Fail
	}
	mod.algs.Store(set)
	return kemi.OK
}
