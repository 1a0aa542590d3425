-- kemi default routing script: a transaction-stateful SIP proxy.
--
-- `kemi run` with no -f runs this script. It answers OPTIONS keepalives
-- sent to kemi itself, refuses requests for kemi's own domain (there is no
-- registrar here), and relays everything else statefully to its
-- Request-URI (or, in a dialog, along its Route set): retransmissions are
-- absorbed, CANCEL reaches every branch, and replies go back on the Via
-- path. scripts/proxy.lua is a fuller example in the shape of Kamailio's
-- basic configuration.
--
-- Copy it, change it, and run yours with `kemi run -f routing.lua`.

-- ksr_request_route runs for every request received.
function ksr_request_route()
	if KSR.maxfwd.process_maxfwd(10) < 0 then
		KSR.sl.sl_send_reply(483, "Too Many Hops")
		return
	end

	if KSR.is_CANCEL() then
		if KSR.tm.t_check_trans() > 0 then
			KSR.tm.t_relay()
		end
		return
	end

	-- retransmissions of a request we are already handling
	if KSR.tmx.t_precheck_trans() > 0 then
		KSR.tm.t_check_trans()
		return
	end
	if KSR.tm.t_check_trans() == 0 then
		return
	end

	if KSR.siputils.has_totag() > 0 then
		-- in a dialog: follow the Route set we recorded
		if KSR.rr.loose_route() < 0 and KSR.is_myself_ruri() then
			KSR.sl.sl_send_reply(404, "Not Here")
			return
		end
		relay()
		return
	end

	if KSR.is_myself_ruri() then
		if KSR.is_OPTIONS() and KSR.corex.has_ruri_user() < 0 then
			KSR.sl.sl_send_reply(200, "Keepalive")
		elseif not KSR.is_ACK() then
			KSR.sl.sl_send_reply(404, "Not Found")
		end
		return
	end

	if KSR.is_method_in("IS") then
		KSR.rr.record_route()
	end
	relay()
end

-- relay sends the request on statefully; a failure is answered.
function relay()
	if KSR.tm.t_relay() < 0 then
		KSR.sl.sl_reply_error()
	end
end

-- ksr_reply_route runs for every reply received; returning without
-- KSR.x.drop() lets tm (or, for unknown replies, the core) forward it.
function ksr_reply_route()
end
