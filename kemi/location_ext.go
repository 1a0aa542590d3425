package kemi

import "context"

// EventContactExpired is the event usrloc runs the script's
// event_callback with for every binding that expired, as Kamailio's
// event_route[usrloc:contact-expired].
const EventContactExpired = "usrloc:contact-expired"

// ExpiredContactSource is implemented by the Location usrloc publishes.
// While the usrloc:contact-expired callback runs for a binding,
// ExpiredContact(m), with m the message the callback runs with, returns
// that binding: registrar reads $ulc(exp=>attr) from it, as Kamailio
// fills the "exp" profile of $ulc there. Outside the callback it reports
// false.
type ExpiredContactSource interface {
	ExpiredContact(m *Msg) (Binding, bool)
}

// TableBinding is a binding with the location table it is in.
type TableBinding struct {
	Table string
	Binding
}

// ContactLister is implemented by the Location usrloc publishes: what
// nathelper's NAT keepalive needs from it (Kamailio's get_all_ucontacts
// and usrloc's nat_bflag).
type ContactLister interface {
	// AllContacts returns the live bindings of every location table whose
	// branch flags (CFlags) hold all of flags.
	AllContacts(ctx context.Context, flags uint32) ([]TableBinding, error)
	// NATFlag returns the branch-flag mask of usrloc's nat_bflag, 0 when
	// it is not set.
	NATFlag() uint32
	// ServerID returns usrloc's server_id, the ServerID of the bindings
	// this node saves.
	ServerID() int
}
