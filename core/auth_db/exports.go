package auth_db

import (
	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/db"
	"github.com/kemisip/kemi/kemi"
)

// Flags of auth_check and is_subscriber, as Kamailio's.
const (
	checkID      = 1 // auth_check: the credentials' user must be the From/To user
	checkSkipFwd = 2 // auth_check: ... except for INVITE, BYE, PRACK, UPDATE, MESSAGE
	subsDomain   = 1 // is_subscriber: match the domain too
)

// Exports returns KSR.auth_db.
func (mod *Module) Exports() []kemi.Export {
	return []kemi.Export{
		{Module: "auth_db", Name: "auth_check", Params: []kemi.ParamKind{kemi.ParamStr, kemi.ParamStr, kemi.ParamInt}, Return: kemi.ReturnInt, Func: mod.authCheck},
		{Module: "auth_db", Name: "is_subscriber", Params: []kemi.ParamKind{kemi.ParamStr, kemi.ParamStr, kemi.ParamInt}, Return: kemi.ReturnInt, Func: mod.isSubscriber},
		{Module: "auth_db", Name: "www_authenticate", Params: kemi.SS, Return: kemi.ReturnInt, Func: func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return kemi.Int(mod.authenticate(m, a.Str(0), a.Str(1), "", true))
		}},
		{Module: "auth_db", Name: "www_authenticate_method", Params: kemi.SSS, Return: kemi.ReturnInt, Func: func(m *kemi.Msg, a kemi.Args) kemi.Value {
			if a.Str(2) == "" {
				m.Errorf(mod.log, "www_authenticate_method: empty method")
				return kemi.Int(kemi.AuthError)
			}
			return kemi.Int(mod.authenticate(m, a.Str(0), a.Str(1), a.Str(2), true))
		}},
	}
}

// authenticate is Kamailio's digest_authenticate: the auth module checks
// the credentials and nonce, the subscriber table gives the HA1.
func (mod *Module) authenticate(m *kemi.Msg, realm, table, method string, www bool) int {
	if !m.IsRequest() {
		m.Errorf(mod.log, "auth_db: cannot authenticate a reply")
		return kemi.AuthError
	}
	if realm == "" || table == "" {
		m.Errorf(mod.log, "auth_db: empty realm or table")
		return kemi.AuthError
	}
	if !db.ValidIdentifier(table) {
		m.Errorf(mod.log, "auth_db: table name %q: want letters, digits and _", table)
		return kemi.AuthError
	}
	if method == "" {
		method = string(m.Request().Method)
	}
	return mod.auth.Authenticate(m, realm, method, www, func(cred *kemi.Digest, alg string) (string, int) {
		// the domain of the username, else the realm, as Kamailio's get_ha1
		domain := cred.Domain
		if domain == "" {
			domain = realm
		}
		col := mod.passCol
		if cred.Domain != "" && !mod.calcHA1 {
			col = mod.passCol2
		}
		match := ""
		if mod.useDomain || mod.url.Kind == db.KindRedis {
			match = domain
		}
		v, res := mod.lookup(m, table, col, cred.User, match)
		if res != kemi.AuthOK {
			return "", res
		}
		if mod.calcHA1 {
			return mod.auth.HA1(alg, cred.Username, realm, v), kemi.AuthOK
		}
		return v, kemi.AuthOK
	})
}

// authCheck is auth_check(realm, table, flags): www credentials for
// REGISTER, proxy credentials otherwise, then the user checks of flags 1
// and 2.
func (mod *Module) authCheck(m *kemi.Msg, a kemi.Args) kemi.Value {
	if !m.IsRequest() {
		return kemi.Int(kemi.AuthError)
	}
	if m.Request().Method == sip.ACK || m.Request().Method == sip.CANCEL {
		return kemi.Int(kemi.AuthOK)
	}
	flags := a.Int(2)
	ret := mod.authenticate(m, a.Str(0), a.Str(1), "", m.Request().Method == sip.REGISTER)
	if ret == kemi.AuthOK && flags&checkID != 0 {
		ret = mod.auth.CheckUser(m, flags&checkSkipFwd != 0, mod.useDomain)
	}
	return kemi.Int(ret)
}

// isSubscriber is is_subscriber(uri, table, flags): 1 when the user of
// uri (and its host with flag 1) is in the table, -2 when not, -1 on an
// error.
func (mod *Module) isSubscriber(m *kemi.Msg, a kemi.Args) kemi.Value {
	raw, table, flags := a.Str(0), a.Str(1), a.Int(2)
	if raw == "" || table == "" || !db.ValidIdentifier(table) {
		m.Errorf(mod.log, "is_subscriber: invalid uri %q or table %q", raw, table)
		return kemi.Fail
	}
	var u sip.Uri
	if err := sip.ParseUri(raw, &u); err != nil {
		m.Errorf(mod.log, "is_subscriber: invalid uri %q: %v", raw, err)
		return kemi.Fail
	}
	domain := ""
	if flags&subsDomain != 0 || mod.url.Kind == db.KindRedis {
		domain = u.Host
	}
	switch _, res := mod.lookup(m, table, mod.userCol, u.User, domain); res {
	case kemi.AuthOK:
		return kemi.OK
	case kemi.AuthUserUnknown:
		return kemi.Int(-2)
	}
	return kemi.Fail
}
