package kemi

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
