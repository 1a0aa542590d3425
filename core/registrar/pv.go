package registrar

import (
	"fmt"
	"hash/crc32"
	"strings"

	"github.com/kemisip/kemi/kemi"
)

// profile is the result of reg_fetch_contacts: Kamailio's regpv_profile.
type profile struct {
	aor      string
	domain   string // the location table
	contacts []kemi.Binding
}

// qOverrideKey keys set_q_override's value on the message.
type qOverrideKey struct{}

// profileOf returns the worker's profile name, nil when it was never
// fetched.
func (mod *Module) profileOf(m *kemi.Msg, name string) *profile {
	mod.profMu.Lock()
	defer mod.profMu.Unlock()
	return mod.profiles[m.Proc][name]
}

// setProfile stores (p non-nil) or frees a profile of m's worker.
func (mod *Module) setProfile(m *kemi.Msg, name string, p *profile) {
	mod.profMu.Lock()
	defer mod.profMu.Unlock()
	byName := mod.profiles[m.Proc]
	if p == nil {
		delete(byName, name)
		if len(byName) == 0 {
			delete(mod.profiles, m.Proc)
		}
		return
	}
	if byName == nil {
		byName = map[string]*profile{}
		mod.profiles[m.Proc] = byName
	}
	byName[name] = p
}

// fetchContacts is reg_fetch_contacts: the bindings of the AOR of uri go
// into the profile, for $ulc and ulc_cget; -1 when there are none.
func (mod *Module) fetchContacts(m *kemi.Msg, table, uri, name string) kemi.Value {
	if name == "" {
		m.Errorf(mod.log, "registrar: reg_fetch_contacts: empty profile name")
		return kemi.Fail
	}
	mod.setProfile(m, name, nil)
	aor, bs, ret := mod.bindings(m, "reg_fetch_contacts", table, uri)
	if ret < 0 || len(bs) == 0 {
		return kemi.Fail
	}
	mod.setProfile(m, name, &profile{aor: aor, domain: table, contacts: bs})
	return kemi.OK
}

// freeContacts is reg_free_contacts.
func (mod *Module) freeContacts(m *kemi.Msg, name string) kemi.Value {
	mod.setProfile(m, name, nil)
	return kemi.OK
}

// aorHash is the aorhash attribute of $ulc: a hash of the AOR, as usrloc
// keeps one for its hash table (kemi's differs from Kamailio's core_hash).
func aorHash(aor string) uint32 { return crc32.ChecksumIEEE([]byte(aor)) }

// contactAttr returns attribute attr of binding c of profile p, as $ulc
// gives it; ok false for an unknown attribute.
func contactAttr(p *profile, c *kemi.Binding, attr string) (kemi.Value, bool) {
	switch attr {
	case "aor":
		return kemi.Str(p.aor), true
	case "domain":
		return kemi.Str(p.domain), true
	case "aorhash":
		return kemi.Int64(int64(aorHash(p.aor))), true
	case "count":
		return kemi.Int(len(p.contacts)), true
	case "addr":
		return kemi.Str(c.Contact), true
	case "path":
		return kemi.Str(c.Path), true
	case "received":
		return kemi.Str(c.Received), true
	case "expires":
		if c.Expires.IsZero() {
			return kemi.Int(0), true
		}
		return kemi.Int64(c.Expires.Unix()), true
	case "callid":
		return kemi.Str(c.CallID), true
	case "q":
		return kemi.Int(c.Q), true
	case "cseq":
		return kemi.Int(c.CSeq), true
	case "flags":
		return kemi.Int64(int64(c.Flags)), true
	case "cflags":
		return kemi.Int64(int64(c.CFlags)), true
	case "user_agent":
		return kemi.Str(c.UserAgent), true
	case "socket":
		if c.Socket == "" {
			return kemi.Null, true
		}
		return kemi.Str(c.Socket), true
	case "modified":
		return kemi.Int64(c.LastModified.Unix()), true
	case "methods":
		// a signed 32-bit int, as Kamailio's: -1 when the contact gave none
		return kemi.Int64(int64(int32(uint32(c.Methods)))), true
	case "ruid":
		return kemi.Str(c.RUID), true
	case "regid":
		return kemi.Int(c.RegID), true
	case "instance":
		if c.Instance == "" {
			return kemi.Null, true
		}
		return kemi.Str(c.Instance), true
	case "conid":
		if c.ConnID > 0 {
			return kemi.Int64(c.ConnID), true
		}
		return kemi.Null, true
	case "server_id":
		return kemi.Int(c.ServerID), true
	}
	return kemi.Null, false
}

// ulcAttrs are the attribute names $ulc knows.
var ulcAttrs = map[string]bool{
	"aor": true, "domain": true, "aorhash": true, "count": true, "addr": true, "path": true,
	"received": true, "expires": true, "callid": true, "q": true, "cseq": true, "flags": true,
	"cflags": true, "user_agent": true, "socket": true, "modified": true, "methods": true,
	"ruid": true, "regid": true, "instance": true, "conid": true, "server_id": true,
}

// expiredProfile is the profile name under which the script's usrloc
// event callback reads the expired binding, $ulc(exp=>attr), as in
// Kamailio; a profile fetched under that name wins.
const expiredProfile = "exp"

// expiredContact returns, as a profile of one contact, the binding the
// usrloc:contact-expired callback running with m is about; nil outside
// the callback or when the location table cannot tell.
func (mod *Module) expiredContact(m *kemi.Msg) *profile {
	src, ok := mod.svc.Lookup(kemi.ServiceUsrloc).(kemi.ExpiredContactSource)
	if !ok {
		return nil
	}
	b, ok := src.ExpiredContact(m)
	if !ok {
		return nil
	}
	return &profile{aor: b.AOR, contacts: []kemi.Binding{b}}
}

// registerPVs declares $ulc(profile=>attr)[index].
func registerPVs(t *kemi.PVTable, mod *Module) error {
	return t.Register(kemi.PVClass{
		Name:  "ulc",
		Param: true,
		Get: func(m *kemi.Msg, p *kemi.PVName) (kemi.Value, error) {
			name, attr, ok := strings.Cut(p.Key(m), "=>")
			if !ok || name == "" || !ulcAttrs[attr] {
				return kemi.Null, fmt.Errorf("invalid contact pv name $ulc(%s): want profile=>attribute", p.Param)
			}
			pr := mod.profileOf(m, name)
			if pr == nil && name == expiredProfile {
				pr = mod.expiredContact(m)
			}
			if pr == nil || len(pr.contacts) == 0 {
				return kemi.Null, nil
			}
			idx := 0
			if p.HasIndex && !p.IndexAll && p.Index > 0 {
				idx = p.Index
			}
			if idx >= len(pr.contacts) {
				return kemi.Null, nil
			}
			v, _ := contactAttr(pr, &pr.contacts[idx], attr)
			return v, nil
		},
	})
}

// ulcRget is ulc_rget: the record attributes count and aor of a profile;
// 0 for anything else, as Kamailio.
func (mod *Module) ulcRget(m *kemi.Msg, name, attr string) kemi.Value {
	pr := mod.profileOf(m, name)
	if pr == nil {
		mod.log.Warn("registrar: ulc_rget: profile not fetched - return value 0", "profile", name, "at", m.Where())
		return kemi.Int(0)
	}
	switch attr {
	case "count":
		return kemi.Int(len(pr.contacts))
	case "aor":
		return kemi.Str(pr.aor)
	}
	mod.log.Warn("registrar: ulc_rget: attribute is not defined - return value 0", "attr", attr, "at", m.Where())
	return kemi.Int(0)
}

// ulcCget is ulc_cget: attribute attr of the idx-th contact of a profile.
// Kamailio 5.6 knows only addr and socket here; kemi gives every $ulc
// contact attribute. 0 when unknown or out of range, as Kamailio.
func (mod *Module) ulcCget(m *kemi.Msg, name, attr string, idx int) kemi.Value {
	pr := mod.profileOf(m, name)
	if pr == nil {
		mod.log.Warn("registrar: ulc_cget: profile not fetched - return value 0", "profile", name, "at", m.Where())
		return kemi.Int(0)
	}
	if idx < 0 {
		idx = 0
	}
	if idx >= len(pr.contacts) {
		mod.log.Warn("registrar: ulc_cget: no contact at index - return value 0", "index", idx, "at", m.Where())
		return kemi.Int(0)
	}
	v, ok := contactAttr(pr, &pr.contacts[idx], attr)
	if !ok {
		mod.log.Warn("registrar: ulc_cget: attribute is not defined - return value 0", "attr", attr, "at", m.Where())
		return kemi.Int(0)
	}
	if v.IsNull() && attr == "socket" {
		return kemi.Str("")
	}
	return v
}
