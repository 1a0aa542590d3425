-- Tests of scripts/registrar.lua: run them with
--
--   kemi test examples/tests
--
-- The registrar authenticates with auth_db: T.subscriber adds a user to
-- the test's own subscriber table, T.authorize answers a challenge.
local T = require("kemi.test")

T.script("../../scripts/registrar.lua")
T.config{ aliases = { "example.com" } }

-- register sends alice's REGISTER, answers the 401 challenge, and gives
-- the result of the authorized REGISTER.
local function register(contact)
	T.subscriber("alice", "example.com", "secret")
	local reg = T.request{method = "REGISTER", ruri = "sip:example.com",
		from = "<sip:alice@example.com>;tag=a1", contact = contact or "<sip:alice@192.0.2.10:5062>;expires=600"}
	local r = T.run(reg)
	T.eq(r.reply.code, 401)
	return T.run(T.authorize(reg, r.reply, "alice", "secret"))
end

T.test("OPTIONS to the server is answered 200 Keepalive", function()
	local r = T.run(T.request{method = "OPTIONS", ruri = "sip:example.com"})
	T.eq(r.reply.code, 200)
	T.eq(r.reply.reason, "Keepalive")
end)

T.test("REGISTER without credentials is challenged with 401", function()
	local r = T.run(T.request{method = "REGISTER", ruri = "sip:example.com", from = "<sip:alice@example.com>;tag=a1"})
	T.eq(r.reply.code, 401)
	T.match(r.reply:header("WWW-Authenticate"), '^Digest realm="example%.com"')
	T.match(r.reply:header("WWW-Authenticate"), 'qop="auth"')
end)

T.test("REGISTER with a wrong password is challenged again and logged", function()
	T.subscriber("alice", "example.com", "secret")
	local reg = T.request{method = "REGISTER", ruri = "sip:example.com", from = "<sip:alice@example.com>;tag=a1"}
	local r = T.run(reg)
	local again = T.run(T.authorize(reg, r.reply, "alice", "wrong"))
	T.eq(again.reply.code, 401)
	T.contains(again.logs, "authentication of alice@example.com failed (-2)")
end)

T.test("an authorized REGISTER stores the contact", function()
	local r = register()
	T.eq(r.reply.code, 200)
	T.match(r.reply:header("Contact"), "^<sip:alice@192%.0%.2%.10:5062>;expires=")
	local cs = T.contacts("alice")
	T.eq(#cs, 1)
	T.eq(cs[1].contact, "sip:alice@192.0.2.10:5062")
	T.ok(cs[1].expires > 590 and cs[1].expires <= 600, "expires as asked")
end)

T.test("REGISTER then INVITE: the call goes to the registered contact", function()
	T.eq(register().reply.code, 200)
	T.subscriber("bob", "example.com", "pw")
	local inv = T.request{method = "INVITE", ruri = "sip:alice@example.com", from = "<sip:bob@example.com>;tag=b1"}
	local r = T.run(inv)
	T.eq(r.reply.code, 407, "a call from one of our domains is authenticated")
	local call = T.run(T.authorize(inv, r.reply, "bob", "pw"))
	T.eq(#call.relays, 1)
	T.eq(call.relays[1].uri, "sip:alice@192.0.2.10:5062")
	T.eq(call.relays[1].dest, "udp:192.0.2.10:5062")
	T.no(call.relays[1]:header("Proxy-Authorization"), "credentials are consumed")
end)

T.test("INVITE from another domain to a contact set up directly", function()
	-- module state can be set up without a REGISTER
	T.contact{aor = "alice", contact = "sip:alice@198.51.100.7:5070", q = 1}
	T.contact{aor = "alice", contact = "sip:alice@198.51.100.8:5070", q = 0.5}
	local r = T.run(T.request{method = "INVITE", ruri = "sip:alice@example.com", from = "<sip:carol@other.example>;tag=c1"})
	T.eq(#r.relays, 2, "both devices ring")
	T.eq(r.relays[1].dest, "udp:198.51.100.7:5070")
	T.eq(r.relays[2].dest, "udp:198.51.100.8:5070")
end)

T.test("INVITE to an unknown user: 404", function()
	local r = T.run(T.request{method = "INVITE", ruri = "sip:nobody@example.com", from = "<sip:carol@other.example>;tag=c1"})
	T.eq(r.reply.code, 404)
	T.eq(#r.relays, 0)
end)

T.test("relaying between two foreign domains is refused with 403", function()
	local r = T.run(T.request{method = "INVITE", ruri = "sip:x@other.example", from = "<sip:carol@third.example>;tag=c1"})
	T.eq(r.reply.code, 403)
	T.eq(r.reply.reason, "Not relaying")
end)

T.test("too many hops: 483", function()
	local r = T.run(T.request{method = "OPTIONS", ruri = "sip:alice@example.com", headers = {"Max-Forwards: 0"}})
	T.eq(r.reply.code, 483)
end)

T.test("serial forking: busy, then the next q-value group rings", function()
	T.config{ defines = { WITH_SERIAL_FORKING = true } }
	T.contact{aor = "alice", contact = "sip:alice@198.51.100.7:5070", q = 1}
	T.contact{aor = "alice", contact = "sip:alice@198.51.100.8:5070", q = 0.5}
	local r = T.run(T.request{method = "INVITE", ruri = "sip:alice@example.com", from = "<sip:carol@other.example>;tag=c1"})
	T.eq(#r.relays, 1, "the highest q first")
	T.eq(r.relays[1].dest, "udp:198.51.100.7:5070")
	local f = T.failure(486)
	local next = f.relays[#f.relays]
	T.eq(next.method, "INVITE")
	T.eq(next.dest, "udp:198.51.100.8:5070")
end)

T.test("no answer and no more contacts: the call goes to voicemail", function()
	T.config{ defines = { VOICEMAIL = "sip:192.0.2.50:5080" } }
	T.contact{aor = "alice", contact = "sip:alice@198.51.100.7:5070"}
	local r = T.run(T.request{method = "INVITE", ruri = "sip:alice@example.com", from = "<sip:carol@other.example>;tag=c1"})
	T.eq(#r.relays, 1)
	local f = T.failure(408)
	T.eq(#f.replies, 0, "no error reply: voicemail takes the call")
	local vm = f.relays[#f.relays]
	T.eq(vm.method, "INVITE")
	T.eq(vm.uri, "sip:alice@192.0.2.50:5080")
end)

T.test("in-dialog ACK without a transaction is absorbed", function()
	local r = T.run(T.request{method = "ACK", ruri = "sip:alice@198.51.100.7:5070", to = "<sip:alice@example.com>;tag=x"})
	T.eq(#r.replies, 0)
	T.eq(#r.relays, 0)
	T.ok(r.exited)
end)
