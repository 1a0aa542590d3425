-- kemi default routing script: a stateless SIP proxy.
--
-- `kemi run` with no -f runs this script. It answers OPTIONS keepalives
-- sent to kemi itself, refuses requests for kemi's own domain (there is
-- no registrar here) and forwards everything else statelessly to its
-- Request-URI. Replies go back on the Via path.
--
-- Copy it, change it, and run yours with `kemi run -f routing.lua`.

-- ksr_request_route runs for every request received.
function ksr_request_route()
	if KSR.maxfwd.process_maxfwd(10) < 0 then
		KSR.sl.sl_send_reply(483, "Too Many Hops")
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

	if KSR.forward() < 0 then
		KSR.sl.sl_reply_error()
	end
end

-- ksr_reply_route runs for every reply received; returning without
-- KSR.x.drop() lets kemi forward it on the Via path.
function ksr_reply_route()
end
