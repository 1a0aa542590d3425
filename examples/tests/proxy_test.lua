-- Tests of scripts/proxy.lua: run them with
--
--   kemi test examples/tests
--
-- Every T.test runs in a fresh engine built in memory with the real
-- modules; nothing goes on the network. See docs/testing.md.
local T = require("kemi.test")

T.script("../../scripts/proxy.lua")
T.config{
	-- the static location table of proxy.lua: bob is at 10.0.0.5, and at
	-- 10.0.0.6 when busy; carol has two phones that ring together
	defines = {
		DST_bob = "sip:10.0.0.5:5060",
		ALT_bob = "sip:10.0.0.6:5060",
		DST_carol = "sip:10.0.0.7:5060 sip:10.0.0.8:5060",
	},
	aliases = { "example.com" },
}

T.test("OPTIONS to the server is answered 200 Keepalive", function()
	local r = T.run(T.request{method = "OPTIONS", ruri = "sip:example.com"})
	T.eq(#r.replies, 1)
	T.eq(r.reply.code, 200)
	T.eq(r.reply.reason, "Keepalive")
	T.eq(r.reply.dest, "udp:192.0.2.10:5062")
	T.eq(#r.relays, 0)
end)

T.test("INVITE to a known user is relayed statefully to its destination", function()
	local r = T.run(T.request{method = "INVITE", ruri = "sip:bob@example.com"})
	T.eq(r.replies[1].code, 100, "tm answers 100 Trying at once")
	T.eq(#r.relays, 1)
	local inv = r.relays[1]
	T.eq(inv.method, "INVITE")
	T.eq(inv.uri, "sip:bob@example.com")
	T.eq(inv.dest, "udp:10.0.0.5:5060")
	T.eq(inv.socket, "udp:127.0.0.1:5060")
	T.match(inv:header("Record-Route"), "^<sip:127%.0%.0%.1:5060;lr")
	T.eq(inv:header("Max-Forwards"), "69")
	T.ok(r:flag(1), "FLT_ACC is set on INVITEs")
	T.eq(r:pv("$du"), "sip:10.0.0.5:5060")
end)

T.test("the callee's 200 OK goes back to the caller", function()
	local r = T.run(T.request{method = "INVITE", ruri = "sip:bob@example.com"})
	local ok = T.answer(r.relays[1], 200, "OK", {Contact = "<sip:bob@10.0.0.5:5060>"})
	T.eq(ok.reply.code, 200)
	T.eq(ok.reply:header("Contact"), "<sip:bob@10.0.0.5:5060>")
	T.eq(ok.reply.dest, "udp:192.0.2.10:5062")
	T.match(ok.reply:header("Record-Route"), "127%.0%.0%.1", "the Record-Route comes back")
end)

T.test("a user with two destinations is forked in parallel", function()
	local r = T.run(T.request{method = "INVITE", ruri = "sip:carol@example.com"})
	T.eq(#r.relays, 2)
	T.eq(r.relays[1].dest, "udp:10.0.0.7:5060")
	T.eq(r.relays[2].dest, "udp:10.0.0.8:5060")
end)

T.test("busy: the failure route tries the alternate destination", function()
	T.run(T.request{method = "INVITE", ruri = "sip:bob@example.com"})
	local f = T.failure(486, "Busy Here")
	T.eq(#f.relays, 2, "the ACK of the 486, then the new branch")
	T.eq(f.relays[1].method, "ACK")
	T.eq(f.relays[2].method, "INVITE")
	T.eq(f.relays[2].dest, "udp:10.0.0.6:5060")
	T.contains(f.trace, "KSR.tm.t_on_failure(\"ksr_failure_last\")")
	-- the alternate is busy too: its 486 goes back to the caller
	local last = T.failure(486, "Busy Here")
	T.eq(last.reply.code, 486)
	T.eq(last.reply.dest, "udp:192.0.2.10:5062")
end)

T.test("a 404 from the destination is not retried", function()
	T.run(T.request{method = "INVITE", ruri = "sip:bob@example.com"})
	local f = T.failure(404)
	T.eq(f.reply.code, 404)
end)

T.test("a user of ours without a destination gets 404", function()
	local r = T.run(T.request{method = "INVITE", ruri = "sip:nobody@example.com"})
	T.eq(r.reply.code, 404)
	T.eq(r.reply.reason, "Not Found")
	T.eq(#r.relays, 0)
end)

T.test("too many hops: 483", function()
	local r = T.run(T.request{method = "INVITE", ruri = "sip:bob@example.com", headers = {["Max-Forwards"] = "0"}})
	T.eq(r.reply.code, 483)
	T.eq(r.reply.reason, "Too Many Hops")
	T.ok(r.exited)
end)

T.test("CANCEL follows its INVITE to the ringing branch", function()
	local inv = T.request{method = "INVITE", ruri = "sip:bob@example.com"}
	local r = T.run(inv)
	-- a branch is cancelled once it answered provisionally (RFC 3261 9.1)
	local ringing = T.answer(r.relays[1], 180, "Ringing")
	T.eq(ringing.reply.code, 180, "the 180 goes upstream")
	local c = T.run(inv:cancel())
	T.eq(c.reply.code, 200, "the CANCEL is answered")
	T.eq(#c.relays, 1)
	T.eq(c.relays[1].method, "CANCEL")
	T.eq(c.relays[1].dest, "udp:10.0.0.5:5060")
	-- the callee ends the INVITE with 487, which goes upstream
	local done = T.answer(r.relays[1], 487)
	T.eq(done.reply.code, 487)
end)

T.test("in-dialog BYE follows its Route header", function()
	local r = T.run(T.request{method = "BYE", ruri = "sip:bob@10.0.0.5:5060",
		to = "<sip:bob@example.com>;tag=b0b",
		headers = {Route = "<sip:127.0.0.1:5060;lr>"}})
	T.eq(#r.replies, 0)
	T.eq(#r.relays, 1)
	T.eq(r.relays[1].dest, "udp:10.0.0.5:5060")
	T.no(r.relays[1]:header("Route"), "our Route entry is removed")
	T.ok(r:flag(1), "FLT_ACC is set on BYEs")
end)

T.test("in-dialog request without our Route: 404", function()
	local r = T.run(T.request{method = "BYE", ruri = "sip:bob@10.0.0.5:5060", to = "<sip:bob@example.com>;tag=b0b"})
	T.eq(r.reply.code, 404)
	T.eq(r.reply.reason, "Not here")
end)

T.test("a request for another domain is relayed to it", function()
	local r = T.run(T.request{method = "MESSAGE", ruri = "sip:dave@192.0.2.99:5080", body = "hi"})
	T.eq(#r.relays, 1)
	T.eq(r.relays[1].dest, "udp:192.0.2.99:5080")
end)

T.test("over TCP the relay leaves from the TCP socket", function()
	local r = T.run(T.request{method = "INVITE", ruri = "sip:dave@192.0.2.99:5080;transport=tcp"}:from("tcp:192.0.2.20:40000"))
	T.eq(r.relays[1].dest, "tcp:192.0.2.99:5080")
	T.eq(r.relays[1].socket, "tcp:127.0.0.1:5060")
end)
