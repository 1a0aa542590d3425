package kemi

import (
	"context"
	"errors"
	"time"
)

// ServiceUsrloc is the name under which usrloc publishes its Location in
// Services; registrar looks it up.
const ServiceUsrloc = "usrloc"

// Binding is one contact registered for an address of record: a row of
// Kamailio's location table.
type Binding struct {
	// AOR is the address of record: the username, or username@domain when
	// usrloc's use_domain is set.
	AOR string
	// Contact is the Contact URI as registered.
	Contact string
	// Received is the source the REGISTER came from, as a SIP URI
	// ("sip:203.0.113.7:5062;transport=udp"), when the contact is behind
	// NAT; "" otherwise.
	Received string
	// Path is the Path header set of the REGISTER (RFC 3327), as stored.
	Path string
	// Expires is when the binding ends; zero means never (a permanent
	// binding).
	Expires time.Time
	// Q is the q-value times 1000, or -1 when the contact had none.
	Q int
	// CallID and CSeq are those of the REGISTER that last wrote it.
	CallID string
	CSeq   int
	// Flags are usrloc's contact flags, CFlags the branch flags saved with
	// it.
	Flags  uint32
	CFlags uint32
	// UserAgent is the User-Agent of the REGISTER.
	UserAgent string
	// Socket is the local socket it registered through,
	// "udp:192.0.2.1:5060".
	Socket string
	// Methods is the bit mask of the methods the contact accepts (Kamailio's
	// method bits), or -1 when unknown.
	Methods int
	// RUID is the binding's unique id in the table.
	RUID string
	// Instance and RegID are the +sip.instance and reg-id Contact
	// parameters (RFC 5626).
	Instance string
	RegID    int
	// ServerID is the node that wrote it; ConnID the TCP connection it
	// came over (0 for UDP); KeepAlive its keepalive flag.
	ServerID  int
	ConnID    int64
	KeepAlive int
	// LastModified is when it was last written.
	LastModified time.Time
}

// Expired reports whether the binding has expired at now.
func (b *Binding) Expired(now time.Time) bool {
	return !b.Expires.IsZero() && !now.Before(b.Expires)
}

// BindingChange is what an update function decides for an AOR: the
// bindings to write (new or changed, matched by RUID) and the RUIDs of
// those to remove.
type BindingChange struct {
	Put    []Binding
	Delete []string
}

// ErrLocation wraps every error of the storage behind a Location (a
// database that went away, a full disk): the functions that see it return
// an error to the script, which can answer 500.
var ErrLocation = errors.New("location database error")

// Location is the location table kept by usrloc: Kamailio's usrloc API
// reduced to what registrar needs. table names the domain (Kamailio's
// udomain, the "location" of save("location")). All methods are safe for
// concurrent use.
type Location interface {
	// Lookup returns the live bindings of aor, in no particular order.
	Lookup(ctx context.Context, table, aor string) ([]Binding, error)
	// Update runs fn with the live bindings of aor while no other Update
	// of that AOR runs in this process, then stores what fn decided, all
	// or nothing, before it returns: a binding acknowledged after Update
	// returned is in the database. fn returning an error changes nothing.
	Update(ctx context.Context, table, aor string, fn func(cur []Binding) (BindingChange, error)) error
	// DeleteRUID removes the binding with that RUID from aor; it reports
	// whether there was one.
	DeleteRUID(ctx context.Context, table, aor, ruid string) (bool, error)
	// DeleteAOR removes every binding of aor and reports how many there
	// were.
	DeleteAOR(ctx context.Context, table, aor string) (int, error)
	// UseDomain reports whether AORs include the domain (usrloc's
	// use_domain).
	UseDomain() bool
}
