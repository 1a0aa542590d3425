package kemi

import (
	"time"

	"github.com/emiago/sipgo/sip"
)

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

// ServiceUAC is the name under which tm publishes UAC: requests a module
// sends on its own (dispatcher's OPTIONS probes, nathelper's keepalives).
const ServiceUAC = "uac"

// UACRequest is a request a module sends on its own.
type UACRequest struct {
	// Method is the request method, "OPTIONS".
	Method string
	// RURI is the Request-URI.
	RURI string
	// NextHop is the SIP URI the request is sent to; "" sends it to RURI.
	NextHop string
	// Socket is the local socket to send from, "proto:host:port" or its
	// name; "" lets the engine choose.
	Socket string
	// Headers are header lines ("From: <sip:a@b>\r\nTo: ..."); they must
	// hold From and To. Call-ID, CSeq, Max-Forwards and a From tag are
	// added when missing, Via and Content-Length always.
	Headers string
	// Body is the message body; with one, Headers need a Content-Type.
	Body string
	// Timeout ends the transaction when no final reply came; 0 means
	// tm's fr_timer.
	Timeout time.Duration
}

// UACResult is the outcome of a UACRequest.
type UACResult struct {
	// Code is the status of the final reply, or 408 when none came in
	// time, or 477 when the request could not be sent (as Kamailio's tm).
	Code int
	// Reason is the reason phrase of the final reply (or of the local
	// 408/477).
	Reason string
	// Reply is the final reply; nil when Code is local.
	Reply *sip.Response
}

// UAC is what tm publishes under ServiceUAC.
type UAC interface {
	// SendRequest sends r statefully (retransmitted over UDP until a reply
	// comes) and calls done once, on another goroutine, with the outcome.
	// It returns an error, and does not call done, when the request cannot
	// be built, resolved or given a socket.
	SendRequest(r UACRequest, done func(UACResult)) error
}
