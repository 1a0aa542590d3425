// Package testlib runs Lua test files of routing scripts (`kemi test`):
// it gives test files the module "kemi.test" (require("kemi.test")),
// with which they name the script under test, configure its engine, build
// SIP messages, run routes on them and assert on what happened. It knows
// nothing of engines itself: a Backend (enginetest's Script, adapted by
// cmd/kemi) builds a fresh engine in memory for every test. See
// docs/testing.md for the API as test writers see it.
package testlib

// Backend builds the engines tests run against, and the messages they
// send them.
type Backend interface {
	// Start builds a fresh engine for one test.
	Start(cfg Config) (Engine, error)
	// RequestText writes a request, filling in the headers r leaves out.
	RequestText(r Request) string
	// Derive writes the CANCEL or the ACK (method) of an INVITE, the ACK
	// with To tag totag.
	Derive(invite, method, totag string) (string, error)
	// Authorize answers a digest challenge (the value of a
	// WWW-Authenticate or Proxy-Authenticate header, named by header):
	// it returns req with the Authorization or Proxy-Authorization
	// header for user and password, and a new branch and CSeq.
	Authorize(req, header, challenge, user, password string) (string, error)
}

// Config is the engine a test file asks for.
type Config struct {
	// Script is the routing script's path.
	Script string
	// Modules are the enabled modules in order (nil: the standard set).
	Modules []string
	// Params are module parameters, by module, as in kemi.toml.
	Params map[string]map[string]any
	// Defines are the -D names.
	Defines map[string]string
	// Aliases are extra host names that are myself.
	Aliases []string
}

// Request describes a request to write (see Backend.RequestText).
type Request struct {
	Method, RURI string
	// Headers are in order; one replaces the default of its name.
	Headers []Header
	Body    string
	// Source is where it comes from, "udp:192.0.2.10:5062".
	Source string
}

// Header is one header line.
type Header struct {
	Name, Value string
}

// Message is a SIP message and where it comes from.
type Message struct {
	Text   string
	Source string
}

// Engine is one engine built for one test.
type Engine interface {
	// Run runs a route (ksr_request_route, or a named route) on m.
	Run(route string, m Message) *Outcome
	// Reply handles a reply as a server does (ksr_reply_route, then tm).
	Reply(m Message) *Outcome
	// Answer makes the peer of relay id (Relay.ID) reply, with extra
	// headers.
	Answer(id, code int, reason string, headers []Header) *Outcome
	// Fail answers every branch of the last request with code, which
	// runs the failure route the script armed.
	Fail(code int, reason string) *Outcome
	// Call calls a KSR function by its Lua name on a setup message.
	Call(name string, args ...any) (any, error)
	// RPC calls a module's control command; the result is as JSON
	// decodes it (maps, lists, strings, float64, bool, nil).
	RPC(method string, params ...any) (any, error)
	// AddContact adds a binding to the location table.
	AddContact(c Contact) error
	// Contacts returns the bindings of an AOR.
	Contacts(table, aor string) ([]Contact, error)
	// AddSubscriber adds a user to auth_db's subscriber table.
	AddSubscriber(user, domain, password string) error
	// Close releases the engine.
	Close()
}

// Contact is a binding of the location table.
type Contact struct {
	Table, AOR, Contact, Received, Path, Socket string
	// Q is the q-value times 1000, -1 for none.
	Q int
	// Expires is the seconds left.
	Expires int
}

// Outcome is what handling one message did.
type Outcome struct {
	// Route is the route that ran first.
	Route string
	// Ran is false when the script has no such route.
	Ran bool
	// Exited is set when the route ended with KSR.x.exit or drop.
	Exited bool
	// Err is a Lua error that aborted the route, "" if none.
	Err     string
	Replies []Reply
	Relays  []Relay
	// Flags are the message flags after the route.
	Flags uint32
	// Written is the message as the engine would write it.
	Written string
	// Logs are the log lines written while the message was handled.
	Logs []string
	// Trace are the KSR calls the routes made, "file:line: KSR.f(args) ->
	// ret".
	Trace []string
	// PV reads a pseudo-variable of the message after the route.
	PV func(name string) any
}

// Reply is a reply the engine sent.
type Reply struct {
	Code               int
	Reason, Dest, Text string
	Headers            []Header
}

// Relay is a request the engine sent.
type Relay struct {
	// ID names it to Engine.Answer.
	ID                              int
	Method, URI, Dest, Socket, Text string
	Headers                         []Header
}
