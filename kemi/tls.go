package kemi

import (
	"crypto/tls"
	"crypto/x509"
)

// TLSConn describes the TLS session of one connection, as the tls module
// shows it to scripts ($tls_peer_subject, KSR.tls.cget).
type TLSConn struct {
	// State is the session after its handshake.
	State tls.ConnectionState
	// Local is the certificate we presented, nil if none.
	Local *x509.Certificate
	// Server is set when we accepted the connection (we are the TLS
	// server), clear when we opened it.
	Server bool
	// Profile names the TLS profile that served or opened the
	// connection ("server:default", "client:10.0.0.1:5061").
	Profile string
}

// Peer returns the certificate the peer presented, nil if none.
func (c *TLSConn) Peer() *x509.Certificate {
	if len(c.State.PeerCertificates) == 0 {
		return nil
	}
	return c.State.PeerCertificates[0]
}

// PeerVerified reports whether the peer presented a certificate that was
// verified against the profile's CA list.
func (c *TLSConn) PeerVerified() bool {
	return len(c.State.VerifiedChains) > 0
}

// TLSHost is implemented by a Host that speaks TLS: TLSConn returns the
// session of TLS connection connID, or nil when there is no such
// connection or it is not TLS.
type TLSHost interface {
	TLSConn(connID uint64) *TLSConn
}

// tlsServerIDKey is the Msg.Value key of SetTLSConnectServerID.
type tlsServerIDKey struct{}

// SetTLSConnectServerID asks that TLS connections opened for m use the
// client profile whose server_id is id (KSR.tls.set_connect_server_id);
// "" clears it.
func SetTLSConnectServerID(m *Msg, id string) {
	if id == "" {
		m.SetValue(tlsServerIDKey{}, nil)
		return
	}
	m.SetValue(tlsServerIDKey{}, id)
}

// TLSConnectServerID returns what SetTLSConnectServerID set on m, or "".
func TLSConnectServerID(m *Msg) string {
	id, _ := m.Value(tlsServerIDKey{}).(string)
	return id
}
