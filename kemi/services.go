package kemi

// ServiceTM is the name under which tm publishes its API in Services.
const ServiceTM = "tm"

// StatefulReplier is what tm offers sl (and others) so that send_reply is
// stateful when the request has a transaction.
type StatefulReplier interface {
	// StatefulReply replies through the transaction of m if it has one. It
	// reports whether it did (done) and the error of sending, if any.
	StatefulReply(m *Msg, code int, reason string) (done bool, err error)
}

// ServiceAuth is the name under which an authentication module publishes
// the credentials it authorized (see AuthorizedUser); siputils.is_user asks
// it.
const ServiceAuth = "auth"

// AuthorizedUser is what an authentication module offers under
// ServiceAuth: the username of the credentials that www_authorize or
// proxy_authorize accepted for m.
type AuthorizedUser interface {
	AuthorizedUser(m *Msg) (user string, ok bool)
}
