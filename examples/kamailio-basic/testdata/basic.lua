-- kemi's stand-in for Kamailio's kamailio-basic-kemi-lua.lua (5.6), written
-- for kemi's tests: the same KSR calls in the same order, so that the tests
-- exercise what the example does without fetching it from the network.
-- Functions are named differently and grouped differently; the flags are
-- the numbers of kamailio-basic-kemi.cfg.

local F = {
	acc = 1,        -- FLT_ACC
	accmissed = 2,  -- FLT_ACCMISSED
	accfailed = 3,  -- FLT_ACCFAILED
	nats = 5,       -- FLT_NATS
}
local B = {
	natb = 6,       -- FLB_NATB
	natsipping = 7, -- FLB_NATSIPPING
}

-- user agents of SIP scanners: answered 200 and forgotten
local scanners = { "friendly", "scanner", "sipcli", "sipvicious" }

local function source()
	return KSR.kx.get_method() .. " from " .. KSR.kx.get_furi() .. " (IP:"
		.. KSR.kx.get_srcip() .. ":" .. KSR.kx.get_srcport() .. ")\n"
end

-- sanity and flood checks every request goes through
local function checks()
	KSR.set_reply_no_connect()
	KSR.force_rport()
	if not KSR.is_myself_srcip() then
		local ip = KSR.kx.get_srcip()
		if KSR.htable.sht_match_name("ipban", "eq", ip) > 0 then
			KSR.dbg("banned source, ignored: " .. source())
			KSR.x.exit()
		end
		if KSR.pike.pike_check_req() < 0 then
			KSR.err("pike: banning " .. source())
			KSR.htable.sht_seti("ipban", ip, 1)
			KSR.x.exit()
		end
	end
	local agent = KSR.kx.gete_ua()
	for _, word in ipairs(scanners) do
		if string.find(agent, word) then
			KSR.sl.sl_send_reply(200, "OK")
			KSR.x.exit()
		end
	end
	if KSR.maxfwd.process_maxfwd(10) < 0 then
		KSR.sl.sl_send_reply(483, "Too Many Hops")
		KSR.x.exit()
	end
	if KSR.is_OPTIONS() and KSR.is_myself_ruri()
			and KSR.corex.has_ruri_user() < 0 then
		KSR.sl.sl_send_reply(200, "Keepalive")
		KSR.x.exit()
	end
	if KSR.sanity.sanity_check(17895, 7) < 0 then
		KSR.err("bad request from " .. KSR.kx.get_srcip() .. ":"
			.. KSR.kx.get_srcport() .. "\n")
		KSR.x.exit()
	end
end

-- NAT: a UA behind NAT gets its Contact marked with where it really is
local function detect_nat()
	if not KSR.nathelper then
		return 1
	end
	if KSR.nathelper.nat_uac_test(19) > 0 then
		if KSR.is_REGISTER() then
			KSR.nathelper.fix_nated_register()
		elseif KSR.siputils.is_first_hop() > 0 then
			KSR.nathelper.set_contact_alias()
		end
		KSR.setflag(F.nats)
	end
	return 1
end

-- media relay control: kemi has no rtpproxy module, so this returns at once
local function media()
	if not KSR.rtpproxy then
		return 1
	end
	if KSR.siputils.is_request() > 0 and KSR.siputils.has_totag() > 0
			and KSR.rr.check_route_param("nat=yes") > 0 then
		KSR.setbflag(B.natb)
	end
	if not (KSR.isflagset(F.nats) or KSR.isbflagset(B.natb)) then
		return 1
	end
	KSR.rtpproxy.rtpproxy_manage("co")
	if KSR.siputils.is_request() > 0 and KSR.siputils.has_totag() < 0
			and KSR.tmx.t_is_branch_route() > 0 then
		KSR.rr.add_rr_param(";nat=yes")
	end
	if KSR.siputils.is_reply() > 0 and KSR.isbflagset(B.natb) then
		KSR.nathelper.set_contact_alias()
	end
	return 1
end

-- forward statefully, with the branch, reply and failure handlers set
local function forward()
	if KSR.is_method_in("IBSU") and KSR.tm.t_is_set("branch_route") < 0 then
		KSR.tm.t_on_branch("on_branch")
	end
	if KSR.is_method_in("ISU") and KSR.tm.t_is_set("onreply_route") < 0 then
		KSR.tm.t_on_reply("on_reply")
	end
	if KSR.is_INVITE() and KSR.tm.t_is_set("failure_route") < 0 then
		KSR.tm.t_on_failure("on_failure")
	end
	if KSR.tm.t_relay() < 0 then
		KSR.sl.sl_reply_error()
	end
	KSR.x.exit()
end

-- the R-URI of an in-dialog request to a NATed UA carries its alias
local function dialog_target()
	if not KSR.nathelper then
		return 1
	end
	if not KSR.isdsturiset() then
		KSR.nathelper.handle_ruri_alias()
	end
	return 1
end

local function in_dialog()
	if KSR.siputils.has_totag() < 0 then
		return 1
	end
	if KSR.rr.loose_route() > 0 then
		dialog_target()
		if KSR.is_BYE() then
			KSR.setflag(F.acc)
			KSR.setflag(F.accfailed)
		elseif KSR.is_ACK() then
			media()
		elseif KSR.is_NOTIFY() then
			KSR.rr.record_route()
		end
		forward()
	end
	if KSR.is_ACK() then
		if KSR.tm.t_check_trans() > 0 then
			forward()
		end
		KSR.x.exit()
	end
	KSR.sl.sl_send_reply(404, "Not here")
	KSR.x.exit()
end

-- IP authorisation (the address table, group 1), else digest
local function authenticate()
	if not KSR.auth then
		return 1
	end
	if KSR.permissions and not KSR.is_REGISTER()
			and KSR.permissions.allow_source_address(1) > 0 then
		return 1
	end
	if KSR.is_REGISTER() or KSR.is_myself_furi() then
		if KSR.auth_db.auth_check(KSR.kx.gete_fhost(), "subscriber", 1) < 0 then
			KSR.auth.auth_challenge(KSR.kx.gete_fhost(), 0)
			KSR.x.exit()
		end
		if not KSR.is_method_in("RP") then
			KSR.auth.consume_credentials()
		end
	end
	if not KSR.is_myself_furi() and not KSR.is_myself_ruri() then
		KSR.sl.sl_send_reply(403, "Not relaying")
		KSR.x.exit()
	end
	return 1
end

local function to_foreign_domain()
	if KSR.is_myself_ruri() then
		return 1
	end
	KSR.hdr.append("P-Hint: outbound\r\n")
	forward()
end

local function register()
	if not KSR.is_REGISTER() then
		return 1
	end
	if KSR.isflagset(F.nats) then
		KSR.setbflag(B.natb)
		KSR.setbflag(B.natsipping)
	end
	if KSR.registrar.save("location", 0) < 0 then
		KSR.sl.sl_reply_error()
	end
	KSR.x.exit()
end

local function to_user()
	local rc = KSR.registrar.lookup("location")
	if rc < 0 then
		KSR.tm.t_newtran()
		if rc == -1 or rc == -3 then
			KSR.sl.send_reply(404, "Not Found")
			KSR.x.exit()
		elseif rc == -2 then
			KSR.sl.send_reply(405, "Method Not Allowed")
			KSR.x.exit()
		end
	end
	if KSR.is_INVITE() then
		KSR.setflag(F.accmissed)
	end
	forward()
end

function ksr_request_route()
	checks()
	detect_nat()
	if KSR.is_CANCEL() then
		if KSR.tm.t_check_trans() > 0 then
			forward()
		end
		return 1
	end
	if not KSR.is_ACK() then
		if KSR.tmx.t_precheck_trans() > 0 then
			KSR.tm.t_check_trans()
			return 1
		end
		if KSR.tm.t_check_trans() == 0 then
			return 1
		end
	end
	in_dialog()
	authenticate()
	KSR.hdr.remove("Route")
	if KSR.is_method_in("IS") then
		KSR.rr.record_route()
	end
	if KSR.is_INVITE() then
		KSR.setflag(F.acc)
	end
	to_foreign_domain()
	register()
	if KSR.corex.has_ruri_user() < 0 then
		KSR.sl.sl_send_reply(484, "Address Incomplete")
		return 1
	end
	to_user()
	return 1
end

function on_branch()
	KSR.dbg("branch " .. KSR.pv.get("$T_branch_idx") .. " to "
		.. KSR.kx.get_ruri() .. "\n")
	media()
	return 1
end

function on_reply()
	KSR.dbg("reply\n")
	local code = KSR.kx.get_status()
	if code > 100 and code < 299 then
		media()
	end
	return 1
end

function on_failure()
	media()
	if KSR.tm.t_is_canceled() > 0 then
		return 1
	end
	return 1
end

function ksr_reply_route()
	KSR.dbg("response\n")
	if KSR.sanity.sanity_check(17604, 6) < 0 then
		KSR.err("bad response from " .. KSR.kx.get_srcip() .. ":"
			.. KSR.kx.get_srcport() .. "\n")
		KSR.x.drop()
	end
	return 1
end
