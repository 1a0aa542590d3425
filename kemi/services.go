package kemi

// ServiceTM is the name under which tm publishes its API in Services.
const ServiceTM = "tm"

// TransactionAPI is what tm publishes under ServiceTM, for sl and tmx.
type TransactionAPI interface {
	StatefulReplier
	// PrecheckTrans reports 1 when the same request is being routed by
	// another worker right now (an early retransmission), else -1.
	PrecheckTrans(m *Msg) int
	// FlushFlags copies the message flags into its transaction.
	FlushFlags(m *Msg) int
	// FlushXFlags copies the message's extended flags (XFlags) into its
	// transaction.
	FlushXFlags(m *Msg) int
	// ReplyCallID replies code/reason on the transaction with that Call-ID
	// and CSeq number.
	ReplyCallID(m *Msg, callID, cseq string, code int, reason string) int
	// CancelBranches cancels branches of the transaction of m: "all",
	// "others" (all but the current one) or "this".
	CancelBranches(m *Msg, which string) int
	// CancelCallID cancels the pending branches of the transaction with
	// that Call-ID and CSeq number, setting flag fl (1..31) on it; rcode
	// (100..699) is the cause in the Reason header of the CANCELs.
	CancelCallID(m *Msg, callID, cseq string, fl, rcode int) int
	// Drop ends the transaction of m at once without another reply,
	// rcode recorded as its status; it returns 0 (stop), as Kamailio's.
	Drop(m *Msg, rcode int) int
	// ReuseBranch, in a branch-failure route, makes the failed branch's
	// Request-URI and branch flags the message's.
	ReuseBranch(m *Msg) int
}

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
