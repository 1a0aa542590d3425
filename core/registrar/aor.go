package registrar

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/kemi"
)

// aor is the address of record of a URI, as Kamailio's extract_aor makes
// it: the unescaped user, and "@domain" (without realm_prefix) when usrloc
// uses domains; lower case, but for the user when case_sensitive is set.
func (mod *Module) aor(uri string, useDomain bool) (aor string, u sip.Uri, why rerr, err error) {
	u, err = kemi.ParseURI(uri)
	if err != nil {
		return "", u, rAORParse, err
	}
	user, err := url.PathUnescape(u.User)
	if err != nil {
		return "", u, rUnescape, fmt.Errorf("user of %q: %w", uri, err)
	}
	if !useDomain {
		if !mod.cfg.caseSensitive {
			user = strings.ToLower(user)
		}
		return user, u, rFine, nil
	}
	host := strings.ToLower(u.Host)
	if p := mod.cfg.realmPrefix; p != "" && len(p) < len(host) && strings.HasPrefix(host, strings.ToLower(p)) {
		host = host[len(p):]
	}
	if !mod.cfg.caseSensitive {
		user = strings.ToLower(user)
	}
	if user == "" {
		return host, u, rFine, nil
	}
	return user + "@" + host, u, rFine, nil
}

// useDomain reports whether loc keys bindings by user@domain.
func useDomain(loc kemi.Location) bool { return loc != nil && loc.UseDomain() }

// methodBits maps method names to Kamailio's method bits (METHOD_INVITE
// and the others), which the methods column stores.
var methodBits = map[string]int{
	"INVITE": 1, "CANCEL": 2, "ACK": 4, "BYE": 8, "INFO": 16, "REGISTER": 32, "SUBSCRIBE": 64,
	"NOTIFY": 128, "MESSAGE": 256, "OPTIONS": 512, "PRACK": 1024, "UPDATE": 2048, "REFER": 4096,
	"PUBLISH": 8192, "KDMQ": 16384, "GET": 32768, "POST": 65536, "PUT": 131072, "DELETE": 262144,
}

// methodOther is Kamailio's METHOD_OTHER: any method it has no bit for.
const methodOther = 524288

// methodBit returns the bit of a method name.
func methodBit(name string) int {
	if b, ok := methodBits[strings.ToUpper(name)]; ok {
		return b
	}
	return methodOther
}

// parseMethods parses a comma-separated list of methods (an Allow header,
// a methods Contact parameter) into method bits.
func parseMethods(s string) (int, error) {
	bits := 0
	for _, f := range strings.Split(strings.Trim(s, `"`), ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		for _, c := range f {
			if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.ContainsRune("-.!%*_+`'~", c)) {
				return 0, fmt.Errorf("invalid method %q", f)
			}
		}
		bits |= methodBit(f)
	}
	return bits, nil
}

// allowedMethod reports whether a binding accepts the method of m, with
// method_filtering on; -1 (unknown) accepts all.
func (mod *Module) allowedMethod(m *kemi.Msg, b *kemi.Binding) bool {
	if !mod.cfg.methodFilter || !m.IsRequest() || b.Methods < 0 {
		return true
	}
	return b.Methods&methodBit(string(m.Request().Method)) != 0
}
