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
