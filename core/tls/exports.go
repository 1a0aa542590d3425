package tls

import (
	"strings"

	"github.com/kemisip/kemi/kemi"
)

// Exports returns KSR.tls.
func (mod *Module) Exports() []kemi.Export {
	return []kemi.Export{
		{Module: "tls", Name: "cget", Params: kemi.S, Return: kemi.ReturnXval, Func: mod.cget},
		{Module: "tls", Name: "is_peer_verified", Return: kemi.ReturnInt, Func: mod.isPeerVerified},
		{Module: "tls", Name: "set_connect_server_id", Params: kemi.S, Return: kemi.ReturnInt, Func: mod.setConnectServerID},
	}
}

// conn returns the TLS session m arrived on, nil when m did not come
// over TLS or its connection is gone.
func conn(m *kemi.Msg) *kemi.TLSConn {
	if m.Proto != "tls" || m.ConnID == 0 {
		return nil
	}
	h, ok := m.Host.(kemi.TLSHost)
	if !ok {
		return nil
	}
	return h.TLSConn(m.ConnID)
}

// cget returns the attribute name of m's TLS connection: the name of a
// $tls_* variable ("tls_peer_subject"), with or without its "tls_"
// prefix; "cipher" is tls_cipher_info. nil for an unknown name or when
// there is no value.
func (mod *Module) cget(m *kemi.Msg, a kemi.Args) kemi.Value {
	name := strings.TrimPrefix(a.Str(0), "tls_")
	if name == "cipher" {
		name = "cipher_info"
	}
	get, ok := attrs[name]
	if !ok {
		m.Errorf(mod.log, "tls.cget: unknown attribute %q", a.Str(0))
		return kemi.Null
	}
	c := conn(m)
	if c == nil {
		return kemi.Null
	}
	return get(c)
}

// isPeerVerified returns 1 when m came over TLS from a peer whose
// certificate was verified, else -1.
func (mod *Module) isPeerVerified(m *kemi.Msg, _ kemi.Args) kemi.Value {
	if m.Proto != "tls" {
		m.Errorf(mod.log, "tls.is_peer_verified: the message did not come over TLS")
		return kemi.Int(-1)
	}
	c := conn(m)
	switch {
	case c == nil:
		m.Errorf(mod.log, "tls.is_peer_verified: the connection no longer exists")
		return kemi.Int(-1)
	case c.Peer() == nil:
		mod.log.Info("tls.is_peer_verified: the peer presented no certificate", "src", m.Src)
		return kemi.Int(-1)
	case !c.PeerVerified():
		return kemi.Int(-1)
	}
	return kemi.Int(1)
}

// setConnectServerID makes the TLS connections opened for this message
// (forwarded or relayed) use the client profile with server_id id.
func (mod *Module) setConnectServerID(m *kemi.Msg, a kemi.Args) kemi.Value {
	id := a.Str(0)
	if id == "" {
		m.Errorf(mod.log, "tls.set_connect_server_id: empty server id")
		return kemi.Int(-1)
	}
	kemi.SetTLSConnectServerID(m, id)
	return kemi.Int(1)
}

var _ kemi.Module = (*Module)(nil)
