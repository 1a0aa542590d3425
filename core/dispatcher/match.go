package dispatcher

import (
	"net/netip"
	"strings"

	"github.com/kemisip/kemi/kemi"
)

// Match mode bits of ds_is_from_list_mode, as in Kamailio.
const (
	matchNoPort  = 1 // ignore the port
	matchNoProto = 2 // ignore the transport
	matchActive  = 4 // only usable destinations match
)

// isFromList reports 1 when the source of m (or the address of uri, when
// given) is a destination of set id (any set for -1), -1 otherwise. On a
// match it sets setid_pvname and attrs_pvname.
func (mod *Module) isFromList(m *kemi.Msg, id, mode int, uri string) int {
	addr, port, proto := m.Src.Addr().Unmap(), int(m.Src.Port()), strings.ToLower(m.Proto)
	if proto == "" {
		proto = "udp"
	}
	if uri != "" {
		u, err := kemi.ParseURI(uri)
		if err != nil {
			m.Errorf(mod.log, "dispatcher: ds_is_from_list_uri: %v", err)
			return -1
		}
		var d dest
		d.setAddr(u)
		addr, port, proto = d.addr.Unmap(), defaultPort(d.port, d.proto), d.proto
	}
	if !addr.IsValid() {
		return -1
	}
	l := mod.sets.Load()
	for _, sid := range l.ids {
		if id >= 0 && sid != id {
			continue
		}
		for _, d := range l.sets[sid].dests {
			if !mod.matches(d, addr, port, proto, mode) {
				continue
			}
			if mod.setidPV != nil {
				if err := mod.setidPV.Set(m, kemi.Int(sid)); err != nil {
					m.Errorf(mod.log, "dispatcher: setid_pvname: %v", err)
				}
			}
			if mod.attrsPV != nil {
				if err := mod.attrsPV.Set(m, kemi.Str(d.attrs)); err != nil {
					m.Errorf(mod.log, "dispatcher: attrs_pvname: %v", err)
				}
			}
			return 1
		}
	}
	return -1
}

func (mod *Module) matches(d *dest, addr netip.Addr, port int, proto string, mode int) bool {
	if !d.addr.IsValid() || d.addr.Unmap() != addr {
		return false
	}
	// A destination written without a port matches any port, as in
	// Kamailio.
	if mode&matchNoPort == 0 && d.port != 0 && d.port != port {
		return false
	}
	if mode&matchNoProto == 0 && d.proto != proto {
		return false
	}
	return mode&matchActive == 0 || mod.state.usable(d)
}

// defaultPort returns port, or the default port of proto when it is 0.
func defaultPort(port int, proto string) int {
	if port != 0 {
		return port
	}
	return kemi.DefaultPort(proto)
}
