-- proxy.lua: a transaction-stateful SIP proxy in the shape of Kamailio's
-- basic KEMI example (kamailio-basic-kemi-lua.lua), for kemi.
--
--   kemi run -f scripts/proxy.lua -D DST_bob=sip:10.0.0.5:5060
--
-- What it does, in order, for every request:
--   * drops floods of hops (Max-Forwards) and malformed requests (sanity);
--   * relays a CANCEL to the branches of its INVITE;
--   * routes in-dialog requests by their Route set (loose routing);
--   * absorbs retransmissions;
--   * record-routes dialog-creating requests;
--   * finds the destination: for a user of ours, the define DST_<user>
--     (a static "location" table: -D DST_alice=sip:192.0.2.1:5060; several
--     destinations separated by spaces are forked in parallel), else the
--     Request-URI itself (a domain that is not ours);
--   * relays statefully with a failure route that tries ALT_<user> (another
--     define) when the first destination is busy or does not answer (the
--     same Request-URI, written again so that t_relay forks it, to $du).
--
-- Defines (-D NAME=VALUE or `defines` in kemi.toml): DST_<user>, ALT_<user>,
-- WITH_DEBUG (logs every route).

-- Message flags, as in Kamailio's example.
local FLT_ACC = 1

local function debug(msg)
	if KSR.kx.ifdef("WITH_DEBUG") then
		KSR.info(msg)
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

	ksr_route_withindlg()

	-- retransmissions: handled by the transaction, if any
	if KSR.tmx.t_precheck_trans() > 0 then
		KSR.tm.t_check_trans()
		return 1
	end
	if KSR.tm.t_check_trans() == 0 then
		return 1
	end

	-- a Route header on an initial request is not for us to follow
	KSR.hdr.remove("Route")
	if KSR.is_method_in("IS") then
		KSR.rr.record_route()
	end
	if KSR.is_INVITE() then
		KSR.setflag(FLT_ACC)
	end

	if KSR.is_myself_ruri() then
		ksr_route_location()
		return 1
	end
	-- another domain: relay to it
	ksr_route_relay()
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
		KSR.err("malformed SIP request from " .. KSR.kx.get_srcip() .. ":" .. KSR.kx.get_srcport())
		KSR.x.exit()
	end
end

-- ksr_route_withindlg: requests of an established dialog follow its route
-- set.
function ksr_route_withindlg()
	if KSR.siputils.has_totag() < 0 then
		return 1
	end
	if KSR.rr.loose_route() > 0 then
		if KSR.is_BYE() then
			KSR.setflag(FLT_ACC)
		end
		if KSR.is_ACK() then
			-- an ACK for a 2xx goes end to end
			ksr_route_relay()
			KSR.x.exit()
		end
		ksr_route_relay()
		KSR.x.exit()
	end
	if KSR.is_ACK() then
		if KSR.tm.t_check_trans() > 0 then
			-- the ACK of a negative reply whose transaction is gone: relay it
			ksr_route_relay()
		end
		KSR.x.exit()
	end
	KSR.sl.sl_send_reply(404, "Not here")
	KSR.x.exit()
end

-- ksr_route_location: our users are in a static table of defines.
function ksr_route_location()
	if KSR.corex.has_ruri_user() < 0 then
		KSR.sl.sl_send_reply(484, "Address Incomplete")
		KSR.x.exit()
	end
	local user = KSR.kx.get_ruser()
	local dst = KSR.kx.get_def("DST_" .. user)
	if dst == "" then
		KSR.sl.send_reply(404, "Not Found")
		KSR.x.exit()
	end
	-- the first destination is the R-URI's next hop, the others are
	-- parallel branches (append_branch copies $du, so add them first)
	local first = nil
	for d in string.gmatch(dst, "%S+") do
		if first == nil then
			first = d
		else
			KSR.corex.append_branch_uri(d)
		end
	end
	KSR.setdsturi(first)
	ksr_route_relay()
end

-- ksr_route_relay: stateful relay with the callbacks armed.
function ksr_route_relay()
	if KSR.is_method_in("IBSU") then
		if KSR.tm.t_is_set("branch_route") < 0 then
			KSR.tm.t_on_branch("ksr_branch_manage")
		end
	end
	if KSR.is_method_in("ISU") then
		if KSR.tm.t_is_set("onreply_route") < 0 then
			KSR.tm.t_on_reply("ksr_onreply_manage")
		end
	end
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

-- ksr_branch_manage runs for every branch before it is sent.
function ksr_branch_manage()
	debug("new branch [" .. KSR.pv.get("$T_branch_idx") .. "] to " .. KSR.kx.get_ruri())
end

-- ksr_onreply_manage runs for every reply of the transaction.
function ksr_onreply_manage()
	debug("incoming reply " .. KSR.kx.get_status())
end

-- ksr_failure_manage runs when every branch failed.
function ksr_failure_manage()
	if KSR.tm.t_is_canceled() > 0 then
		return 1
	end
	local code = KSR.pv.get("$T_reply_code")
	debug("failure route: " .. code)
	if code ~= 486 and code ~= 408 and code ~= 480 then
		return 1
	end
	local alt = KSR.kx.get_def("ALT_" .. KSR.kx.get_ruser())
	if alt ~= "" then
		-- as in Kamailio, t_relay in a failure route makes a branch of the
		-- Request-URI only when the route wrote it (KSR.setdsturi alone
		-- adds none, and $du still holds the first destination): write it
		-- back unchanged, and send it to the alternate
		KSR.seturi(KSR.kx.get_ruri())
		KSR.setdsturi(alt)
		KSR.tm.t_on_failure("ksr_failure_last")
		if KSR.tm.t_relay() < 0 then
			KSR.sl.send_reply(500, "Failover failed")
		end
	end
end

-- ksr_failure_last: the alternate failed too; its reply goes upstream.
function ksr_failure_last()
	debug("alternate failed: " .. KSR.pv.get("$T_reply_code"))
end

-- ksr_reply_route runs for every reply received, before tm.
function ksr_reply_route()
	return 1
end
