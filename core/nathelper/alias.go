package nathelper

import (
	"fmt"
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/kemi"
)

// protoNames are Kamailio's transport names by protocol number, as
// proto_type_to_str writes them.
var protoNames = map[byte]string{'1': "udp", '2': "tcp", '3': "tls", '4': "sctp", '5': "ws", '6': "wss"}

// parseAlias splits an alias value ip~port~proto (proto one digit, 1 udp
// to 6 wss) and returns the transport's name.
func parseAlias(v string) (host, port, proto string, err error) {
	host, rest, ok := strings.Cut(v, "~")
	if !ok {
		return "", "", "", fmt.Errorf("no '~' in alias param value")
	}
	port, p, ok := strings.Cut(rest, "~")
	if !ok {
		return "", "", "", fmt.Errorf("no second '~' in alias param value")
	}
	if p == "" {
		return "", "", "", fmt.Errorf("no proto in alias param")
	}
	if len(p) > 1 {
		return "", "", "", fmt.Errorf("invalid alias param value")
	}
	proto, ok = protoNames[p[0]]
	if !ok {
		return "", "", "", fmt.Errorf("unknown proto in alias param")
	}
	return host, port, proto, nil
}

// handleRURIAlias is KSR.nathelper.handle_ruri_alias(_mode): the first
// (mode 0) or last alias parameter of the R-URI becomes $du and leaves
// the R-URI. 1 done, 2 no alias parameter, -1 a bad one.
func (mod *Module) handleRURIAlias(m *kemi.Msg, mode int) kemi.Value {
	const fn = "handle_ruri_alias"
	if !m.IsRequest() {
		return mod.fail(m, fn, "not a request")
	}
	u := m.Request().Recipient
	at := -1
	for i, kv := range u.UriParams {
		if kv.K == mod.aliasName {
			at = i
			if mode == 0 {
				break
			}
		}
	}
	if at < 0 {
		return kemi.Int(2)
	}
	host, port, proto, err := parseAlias(u.UriParams[at].V)
	if err != nil {
		return mod.fail(m, fn, "%v", err)
	}
	du := "sip:" + host + ":" + port
	if proto != "udp" {
		du += ";transport=" + proto
	}
	if _, err := kemi.ParseURI(du); err != nil {
		return mod.fail(m, fn, "failed to set dst uri %q: %v", du, err)
	}
	m.DstURI = du
	u.UriParams = append(append(sip.HeaderParams(nil), u.UriParams[:at]...), u.UriParams[at+1:]...)
	m.ReplaceRURI(u)
	mod.rewrites.Inc()
	return kemi.OK
}
