-- registrar.lua: a registrar and proxy with digest authentication, in the
-- shape of Kamailio's basic KEMI example (kamailio-basic-kemi-lua.lua). It
-- runs unchanged on kemi and on Kamailio 5.6 (app_lua).
--
--   kemi user add alice@example.com          # password read from stdin
--   kemi run -f scripts/registrar.lua --db-url sqlite:///var/lib/kemi/kemi.db
--
-- Subscribers (auth_db) and registrations (usrloc) live in the database the
-- db_url names: sqlite://kemi.db by default, redis://host:6379/0 for
-- several nodes sharing registrations. Kamailio needs the modules this
-- script calls loaded, usrloc's "preload" set to "location", and the
-- domains it serves as aliases (see examples/bench/registrar-kamailio.cfg).
--
-- What it does, in order, for every request:
--   * drops floods of hops (Max-Forwards) and malformed requests (sanity);
--   * answers OPTIONS to itself (keepalives) with 200;
--   * relays a CANCEL to the branches of its INVITE;
--   * routes in-dialog requests by their Route set (loose routing);
--   * absorbs retransmissions;
--   * authenticates: every REGISTER (401, WWW-Authenticate), and every
--     request whose From is one of our domains (407, Proxy-Authenticate),
--     against the subscriber table; refuses to relay between two foreign
--     domains (403);
--   * record-routes dialog-creating requests;
--   * saves a REGISTER's contacts (registrar.save replies itself);
--   * finds a request for one of our users in the location table: several
--     devices ring at once (parallel forking), or one q-value group after
--     the other with the define WITH_SERIAL_FORKING; 404 when the user is
--     not registered;
--   * on a busy or unanswered call, tries the next contacts (serial
--     forking) or the define VOICEMAIL (a SIP URI: the call goes to the
--     called user at that host), if there is one.
--
-- Defines (kemi: -D NAME=VALUE or `defines` in kemi.toml; Kamailio:
-- #!define or -A): WITH_SERIAL_FORKING, VOICEMAIL, WITH_DEBUG.

-- Message flags, as in Kamailio's example.
local FLT_ACC = 1
local FLT_ACCMISSED = 2
local FLT_ACCFAILED = 3

local function debug(msg)
	if KSR.kx.ifdef("WITH_DEBUG") then
		KSR.info(msg .. "\n")
	end
end

-- ksr_request_route runs for every request received.
function ksr_request_route()
	ksr_route_reqinit()

	if KSR.is_CANCEL() then
		if KSR.tm.t_check_trans() > 0 then
			ksr_route_relay()
		end
		return 1
	end

	-- retransmissions: the transaction, if any, resends its last reply
	if not KSR.is_ACK() then
		if KSR.tmx.t_precheck_trans() > 0 then
			KSR.tm.t_check_trans()
			return 1
		end
		if KSR.tm.t_check_trans() == 0 then
			return 1
		end
	end

	ksr_route_withindlg()

	-- only initial requests (no To tag) from here on
	ksr_route_auth()

	-- a Route header on an initial request is not for us to follow
	KSR.hdr.remove("Route")
	if KSR.is_method_in("IS") then
		KSR.rr.record_route()
	end
	if KSR.is_INVITE() then
		KSR.setflag(FLT_ACC)
	end

	-- another domain: relay to it (only our users get this far, see auth)
	if not KSR.is_myself_ruri() then
		ksr_route_relay()
		KSR.x.exit()
	end

	ksr_route_registrar()

	if KSR.corex.has_ruri_user() < 0 then
		KSR.sl.sl_send_reply(484, "Address Incomplete")
		KSR.x.exit()
	end
	ksr_route_location()
end

-- ksr_route_reqinit: basic checks of an incoming request.
function ksr_route_reqinit()
	if KSR.maxfwd.process_maxfwd(10) < 0 then
		KSR.sl.sl_send_reply(483, "Too Many Hops")
		KSR.x.exit()
	end
	if KSR.is_OPTIONS() and KSR.is_myself_ruri() and KSR.corex.has_ruri_user() < 0 then
		KSR.sl.sl_send_reply(200, "Keepalive")
		KSR.x.exit()
	end
	if KSR.sanity.sanity_check(17895, 7) < 0 then
		KSR.err("malformed SIP request from " .. KSR.kx.get_srcip() .. ":" .. KSR.kx.get_srcport() .. "\n")
		KSR.x.exit()
	end
end

-- ksr_route_withindlg: requests of an established dialog follow the route
-- set recorded when it was made.
function ksr_route_withindlg()
	if KSR.siputils.has_totag() < 0 then
		return 1
	end
	if KSR.rr.loose_route() > 0 then
		if KSR.is_BYE() then
			KSR.setflag(FLT_ACC)
			KSR.setflag(FLT_ACCFAILED)
		end
		ksr_route_relay()
		KSR.x.exit()
	end
	if KSR.is_ACK() then
		if KSR.tm.t_check_trans() > 0 then
			-- the ACK of a negative reply (e.g. 404 from upstream)
			ksr_route_relay()
		end
		-- else an ACK without a transaction: nothing to do with it
		KSR.x.exit()
	end
	KSR.sl.sl_send_reply(404, "Not here")
	KSR.x.exit()
end

-- ksr_route_auth: digest authentication against the subscriber table. A
-- REGISTER is challenged with 401 (WWW-Authenticate), any other request
-- with 407 (Proxy-Authenticate): auth_check and auth_challenge choose by
-- the method. The realm is the From domain.
function ksr_route_auth()
	if KSR.is_REGISTER() or KSR.is_myself_furi() then
		local realm = KSR.kx.gete_fhost()
		-- flags 1: the user of the credentials must be the From user (the
		-- To user for REGISTER), so alice cannot register as bob
		local rc = KSR.auth_db.auth_check(realm, "subscriber", 1)
		if rc < 0 then
			-- -2 wrong password, -3 unknown user, -4 stale nonce, -5 no
			-- credentials, -6 nonce reused, -8 user differs from From/To
			if rc ~= -5 and rc ~= -4 then
				KSR.notice("authentication of " .. KSR.kx.gete_fuser() .. "@" .. realm ..
					" failed (" .. rc .. ") from " .. KSR.kx.get_srcip() .. "\n")
			end
			-- flags 1: qop=auth in the challenge
			KSR.auth.auth_challenge(realm, 1)
			KSR.x.exit()
		end
		-- the credentials are for us: do not pass them on (a REGISTER is
		-- not relayed; a PUBLISH keeps them, as in Kamailio's example)
		if not KSR.is_method_in("RP") then
			KSR.auth.consume_credentials()
		end
	end
	-- not from one of our users and not to one: we are not an open relay
	if not KSR.is_myself_furi() and not KSR.is_myself_ruri() then
		KSR.sl.sl_send_reply(403, "Not relaying")
		KSR.x.exit()
	end
	return 1
end

-- ksr_route_registrar: store the contacts of a REGISTER in the location
-- table; save sends the 200 (listing every binding) or the error reply.
function ksr_route_registrar()
	if not KSR.is_REGISTER() then
		return 1
	end
	if KSR.registrar.save("location", 0) < 0 then
		KSR.sl.sl_reply_error()
	end
	KSR.x.exit()
end

-- ksr_route_location: a request for one of our users goes to the devices
-- it registered.
function ksr_route_location()
	local rc = KSR.registrar.lookup("location")
	if rc < 0 then
		KSR.tm.t_newtran()
		if rc == -1 or rc == -3 then
			-- not registered (-1) or no contact left (-3)
			KSR.tm.t_send_reply(404, "Not Found")
		elseif rc == -2 then
			-- the devices do not accept this method
			KSR.tm.t_send_reply(405, "Method Not Allowed")
		else
			KSR.tm.t_send_reply(500, "Server Error")
		end
		KSR.x.exit()
	end
	if KSR.is_INVITE() then
		KSR.setflag(FLT_ACCMISSED)
	end
	-- lookup put every contact in the destination set, so t_relay rings
	-- them all at once. For serial forking, take the contacts with the
	-- highest q first, and the next group from the failure route.
	if KSR.kx.ifdef("WITH_SERIAL_FORKING") and KSR.is_INVITE() then
		if KSR.tm.t_load_contacts() > 0 then
			KSR.tm.t_next_contacts()
		end
	end
	ksr_route_relay()
	KSR.x.exit()
end

-- ksr_route_relay: stateful relay with the callbacks armed.
function ksr_route_relay()
	if KSR.is_INVITE() then
		if KSR.tm.t_is_set("failure_route") < 0 then
			KSR.tm.t_on_failure("ksr_failure_manage")
		end
	end
	if KSR.tm.t_relay() < 0 then
		KSR.sl.sl_reply_error()
	end
	KSR.x.exit()
end

-- ksr_failure_manage: every branch of the INVITE failed.
function ksr_failure_manage()
	if KSR.tm.t_is_canceled() > 0 then
		return 1
	end
	-- busy, unavailable, or no answer
	if KSR.tm.t_check_status("486|408|480") > 0 or KSR.tm.t_branch_timeout() > 0 then
		-- the next q-value group of the user's devices
		if KSR.kx.ifdef("WITH_SERIAL_FORKING") and KSR.tm.t_next_contacts() > 0 then
			debug("serial forking: next contacts")
			ksr_route_relay()
			return 1
		end
		local vm = KSR.kx.get_def("VOICEMAIL")
		if vm ~= nil and vm ~= "" then
			debug("voicemail: " .. vm)
			-- the called user at the voicemail server. In a failure route
			-- the Request-URI counts as used: it must be set again for
			-- t_relay to add a branch (KSR.setdsturi alone adds none, in
			-- Kamailio as in kemi).
			KSR.seturi(vm)
			local user = KSR.pv.get("$tU")
			if user ~= nil and user ~= "" then
				KSR.setuser(user)
			end
			ksr_route_relay()
			return 1
		end
	end
	return 1
end
