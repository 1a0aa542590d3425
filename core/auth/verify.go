package auth

import (
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/kemi"
)

// authorized is what the module notes on a message when it found the
// credentials for the realm (Kamailio's mark_authorized_cred): for
// consume_credentials and is_user.
type authorized struct {
	hdr  sip.Header
	cred *kemi.Digest
	// stale: the nonce was stale, so the next challenge says stale=true
	stale bool
}

type authKey struct{}

func noted(m *kemi.Msg) *authorized {
	a, _ := m.Value(authKey{}).(*authorized)
	return a
}

// credHeader names the header of credentials for www (Authorization) or
// proxy (Proxy-Authorization) authentication.
func credHeader(www bool) string {
	if www {
		return "Authorization"
	}
	return "Proxy-Authorization"
}

// find returns the credentials of m for realm, as Kamailio's
// find_credentials: the first header of the kind whose realm matches
// (without case). otherRealm reports credentials only for other realms;
// malformed a header that does not parse.
func find(m *kemi.Msg, realm string, www bool) (h sip.Header, cred *kemi.Digest, otherRealm, malformed bool) {
	for _, hdr := range m.Headers(credHeader(www)) {
		d, err := kemi.ParseDigest(hdr.Value())
		if err == kemi.ErrNotDigest {
			continue // another scheme: not ours
		}
		if err != nil {
			return nil, nil, false, true
		}
		if strings.EqualFold(d.Realm, realm) {
			return hdr, d, false, false
		}
		otherRealm = true
	}
	return nil, nil, otherRealm, false
}

// checksFor returns the auth checks for m (Kamailio's get_auth_checks):
// auth_checks_register for REGISTER, auth_checks_in_dlg for a request
// with a To tag, auth_checks_no_dlg otherwise.
func (mod *Module) checksFor(m *kemi.Msg) uint8 {
	if m == nil || !m.IsRequest() {
		return 0
	}
	if m.Request().Method == sip.REGISTER {
		return mod.checksReg
	}
	if to := m.Request().To(); to != nil && to.Params != nil {
		if tag, ok := to.Params.Get("tag"); ok && tag != "" {
			return mod.checksInDlg
		}
	}
	return mod.checksNoDlg
}

// fieldsOf returns the request values a nonce can be bound to.
func fieldsOf(m *kemi.Msg, checks uint8) *fields {
	var f fields
	if checks == 0 || m == nil || !m.IsRequest() {
		return &f
	}
	f[0] = m.OrigURI
	if f[0] == "" {
		f[0] = m.Request().Recipient.String()
	}
	if h := m.Request().CallID(); h != nil {
		f[1] = h.Value()
	}
	if h := m.Request().From(); h != nil && h.Params != nil {
		f[2], _ = h.Params.Get("tag")
	}
	if m.Src.IsValid() {
		f[3] = m.Src.Addr().Unmap().String()
	}
	return &f
}

// Authenticate implements kemi.DigestAuth: Kamailio's pre_auth,
// check_response and post_auth in one call.
func (mod *Module) Authenticate(m *kemi.Msg, realm, method string, www bool, lookup kemi.HA1Func) int {
	if !m.IsRequest() {
		m.Errorf(mod.log, "auth: cannot authenticate a reply")
		mod.fail(reasonError)
		return kemi.AuthError
	}
	// ACK and CANCEL cannot be challenged, PRACK is not: Kamailio lets
	// them through
	switch m.Request().Method {
	case sip.ACK, sip.CANCEL, sip.PRACK:
		return kemi.AuthOK
	}
	if realm == "" {
		m.Errorf(mod.log, "auth: empty realm")
		mod.fail(reasonError)
		return kemi.AuthError
	}
	h, cred, other, bad := find(m, realm, www)
	switch {
	case bad:
		mod.log.Debug("malformed credentials", "header", credHeader(www), "at", m.Where())
		mod.fail(reasonMalformed)
		return kemi.AuthError
	case h == nil && other:
		mod.fail(reasonRealm)
		return kemi.AuthNoCredentials
	case h == nil:
		mod.fail(reasonNoCredentials)
		return kemi.AuthNoCredentials
	}
	note := &authorized{hdr: h, cred: cred}
	m.SetValue(authKey{}, note)

	nonce, _ := cred.Param("nonce")
	uri, hasURI := cred.Param("uri")
	response, hasResp := cred.Param("response")
	qop, _ := cred.Param("qop")
	nc, hasNC := cred.Param("nc")
	cnonce, hasCnonce := cred.Param("cnonce")
	if cred.Username == "" || nonce == "" || !hasURI || !hasResp ||
		qop != "" && (!hasNC || !hasCnonce) {
		// Kamailio's check_dig_cred
		mod.log.Debug("credentials lack a parameter", "user", cred.Username, "at", m.Where())
		mod.fail(reasonMalformed)
		return kemi.AuthError
	}
	checks := mod.checksFor(m)
	ncForCheck := ""
	if qop != "" {
		ncForCheck = nc
	}
	switch mod.nonc.check(nonce, realm, checks, fieldsOf(m, checks), ncForCheck) {
	case nonceInvalid:
		mod.log.Debug("invalid nonce", "user", cred.Username, "at", m.Where())
		mod.fail(reasonInvalidNonce)
		return kemi.AuthError
	case nonceBadNC:
		mod.fail(reasonMalformed)
		return kemi.AuthError
	case nonceStale:
		note.stale = true
		mod.fail(reasonStaleNonce)
		return kemi.AuthStaleNonce
	case nonceReused:
		mod.fail(reasonNonceReused)
		return kemi.AuthNonceReused
	}
	alg, ok := mod.algorithmOf(cred, len(response))
	if !ok {
		mod.log.Debug("no configured algorithm fits the credentials", "user", cred.Username, "at", m.Where())
		mod.fail(reasonMalformed)
		return kemi.AuthError
	}
	ha1, res := lookup(cred, alg.name)
	switch res {
	case kemi.AuthOK:
	case kemi.AuthUserUnknown:
		mod.fail(reasonUserUnknown)
		return res
	default:
		mod.fail(reasonError)
		return res
	}
	var body []byte
	if strings.EqualFold(qop, "auth-int") {
		body = m.Body()
	}
	if !equalHex(alg.response(ha1, nonce, nc, cnonce, qop, method, uri, body), response) {
		mod.fail(reasonInvalidPassword)
		return kemi.AuthInvalidPassword
	}
	return kemi.AuthOK
}

// algorithmOf picks the configured algorithm the credentials use: the
// one their algorithm parameter names, or without one (RFC 2617 UAs,
// and Kamailio, which reads only the response length) the one whose
// digest has the response's length.
func (mod *Module) algorithmOf(cred *kemi.Digest, respLen int) (algorithm, bool) {
	set := mod.algs.Load()
	if name, ok := cred.Param("algorithm"); ok && name != "" {
		for _, a := range set.list {
			if strings.EqualFold(a.name, name) && a.hexLen == respLen {
				return a, true
			}
		}
		return algorithm{}, false
	}
	for _, a := range set.list {
		if a.hexLen == respLen {
			return a, true
		}
	}
	return algorithm{}, false
}

// AuthorizedUser implements kemi.AuthorizedUser: the user part of the
// username of the credentials found for the realm, as Kamailio's
// is_user reads it.
func (mod *Module) AuthorizedUser(m *kemi.Msg) (string, bool) {
	a := noted(m)
	if a == nil {
		return "", false
	}
	return a.cred.User, true
}

// HA1 implements kemi.DigestAuth.
func (mod *Module) HA1(alg, username, realm, password string) string {
	a, ok := lookupAlgorithm(alg)
	if !ok {
		a = algorithms[0]
	}
	return a.ha1(username, realm, password)
}

// CheckUser implements kemi.DigestAuth, as the user checks of
// Kamailio's auth_check and pv_auth_check.
func (mod *Module) CheckUser(m *kemi.Msg, skipFwd, useDomain bool) int {
	if !m.IsRequest() {
		return kemi.AuthError
	}
	a := noted(m)
	if a == nil {
		switch m.Request().Method {
		case sip.ACK, sip.CANCEL, sip.PRACK:
			return kemi.AuthOK
		}
		return kemi.AuthError
	}
	from := m.Request().From()
	if from == nil {
		return kemi.AuthError
	}
	reg := m.Request().Method == sip.REGISTER || m.Request().Method == sip.PUBLISH
	var to *sip.ToHeader
	uri := &from.Address
	if reg {
		if to = m.Request().To(); to == nil {
			return kemi.AuthError
		}
		uri = &to.Address
	}
	fwd := false
	switch m.Request().Method {
	case sip.INVITE, sip.BYE, sip.PRACK, sip.UPDATE, sip.MESSAGE:
		fwd = true
	}
	if !(skipFwd && fwd) && a.cred.User != uri.User {
		mod.fail(reasonUserMismatch)
		return kemi.AuthUserMismatch
	}
	if reg {
		if from.Address.User != to.Address.User || useDomain && from.Address.Host != to.Address.Host {
			mod.fail(reasonUserMismatch)
			return kemi.AuthUserMismatch
		}
		if m.Request().Method == sip.PUBLISH {
			r := &m.Request().Recipient
			if from.Address.User != r.User || useDomain && from.Address.Host != r.Host {
				mod.fail(reasonUserMismatch)
				return kemi.AuthUserMismatch
			}
		}
	}
	return kemi.AuthOK
}
