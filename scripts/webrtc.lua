-- webrtc.lua: a WebRTC gateway, in the shape of Kamailio's basic KEMI
-- example with WITH_WEBSOCKETS, WITH_NAT and WITH_RTPENGINE. Browsers
-- (JsSIP, SIP.js) register and call over WebSocket (ws:/wss: listeners);
-- SIP phones and trunks talk UDP; rtpengine bridges the media: DTLS-SRTP
-- with ICE (RTP/SAVPF) on the browser's side, plain RTP (RTP/AVP) without
-- ICE on the UDP side, and DTLS-SRTP on both legs of a browser-to-browser
-- call.
--
--   kemi run --config kemi.toml -f scripts/webrtc.lua
--
-- with, in kemi.toml:
--
--   [core]
--   listen = ["udp:0.0.0.0:5060", "wss:0.0.0.0:4443"]
--   [tls]
--   certificate = "sip.example.com.pem"
--   private_key = "sip.example.com.key"
--   [rtpengine]
--   rtpengine_sock = "udp:127.0.0.1:2223"
--   [nathelper]
--   received_avp = "$avp(RECEIVED)"
--   [registrar]
--   received_avp = "$avp(RECEIVED)"
--
-- and rtpengine running with a listen-ng of 127.0.0.1:2223 (userspace
-- forwarding is enough: --table=-1). The two received_avp settings let a
-- browser's registration record the address of its connection
-- (fix_nated_register), which lookup then uses. The wss: listener upgrades HTTP to
-- WebSocket by itself; on Kamailio the same routes run behind
-- ksr_xhttp_event (below).
--
-- What it does, for every request:
--   * drops floods of hops (Max-Forwards) and malformed requests (sanity);
--   * answers OPTIONS to itself (keepalives) with 200;
--   * fixes NAT: a WebSocket client's address is never the one in its
--     Contact, so a REGISTER stores the source address (fix_nated_register)
--     and any other request gets a contact alias naming its connection
--     (add_contact_alias); in-dialog requests to such a contact go back
--     over that connection (handle_ruri_alias);
--   * relays a CANCEL and routes in-dialog requests by their Route set;
--   * record-routes dialog-creating requests (twice when the call crosses
--     from WebSocket to UDP: kemi's rr does it);
--   * saves registrations (no authentication: put the registrar.lua auth
--     route in front for a public service);
--   * finds the callee (lookup) and engages rtpengine on each branch with
--     the profile the callee needs, and on the replies with the profile
--     the caller needs (see rtp_flags);
--   * does the same for re-INVITEs and UPDATEs with SDP, from either side
--     (a browser's hold and resume, a phone's hold): they are relayed
--     through the same branch and reply routes, and rtpengine_manage tells
--     the offer from the answer, as in Kamailio's WebRTC examples.
--
-- Defines: WITH_DEBUG logs each step.

-- Message flag: the request came over WebSocket (the caller is a browser).
local FLT_SRC_WS = 7
-- Branch flag: the branch goes to a WebSocket client.
local FLB_DST_WS = 8

-- rtpengine flags by the side the SDP is sent to. A browser needs ICE,
-- DTLS-SRTP, rtcp-mux and a=mid; a SIP phone gets plain RTP without ICE,
-- RTCP on its own port. In an offer to a browser rtpengine is the passive
-- end of the DTLS handshake (the browser connects once it has the offer);
-- in an answer to a browser rtpengine takes the role the browser's offer
-- leaves it (active after its actpass): with DTLS=passive there, rtpengine
-- 10.5 never completes the handshake when ICE finished before the answer.
local RTP_TO_WS = "trust-address replace-origin replace-session-connection"
	.. " ICE=force SDES-off rtcp-mux-offer rtcp-mux-require generate-mid RTP/SAVPF"
local RTP_OFFER_TO_WS = RTP_TO_WS .. " DTLS=passive"
local RTP_TO_UDP = "trust-address replace-origin replace-session-connection"
	.. " ICE=remove rtcp-mux-demux RTP/AVP"

local function debug(msg)
	if KSR.kx.ifdef("WITH_DEBUG") then
		KSR.info(msg .. "\n")
	end
end

-- rtp_flags returns the rtpengine flags for SDP sent to a WebSocket
-- client (to_ws) or to a UDP peer, in an offer or an answer.
local function rtp_flags(to_ws, offer)
	if not to_ws then
		return RTP_TO_UDP
	end
	if offer then
		return RTP_OFFER_TO_WS
	end
	return RTP_TO_WS
end

-- is_ws_uri tells whether a destination (a $du or R-URI) is a WebSocket
-- client: lookup and handle_ruri_alias leave ";transport=ws" there.
local function is_ws_uri(uri)
	return uri ~= nil and string.find(string.lower(uri), "transport=wss?") ~= nil
end

-- ksr_request_route runs for every request received.
function ksr_request_route()
	ksr_route_reqinit()
	ksr_route_natdetect()

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
	KSR.hdr.remove("Route")
	if KSR.is_method_in("IS") then
		KSR.rr.record_route()
	end

	if KSR.is_REGISTER() then
		ksr_route_registrar()
		KSR.x.exit()
	end

	if not KSR.is_myself_ruri() then
		-- a call to another domain: relayed as it is
		ksr_route_relay()
		KSR.x.exit()
	end
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

-- ksr_route_natdetect: a WebSocket client is always behind a NAT as far as
-- SIP goes (its Via and Contact name an invalid host): replies go to the
-- connection (rport), a REGISTER records the source address, and any
-- other request's Contact gets an alias of the connection.
function ksr_route_natdetect()
	if not KSR.is_WSX() then
		return 1
	end
	KSR.setflag(FLT_SRC_WS)
	KSR.force_rport()
	if KSR.is_REGISTER() then
		KSR.nathelper.fix_nated_register()
	elseif KSR.hdr.is_present("Contact") > 0 then
		-- a request without Contact (ACK, BYE) has nothing to alias
		KSR.nathelper.add_contact_alias()
	end
	debug("request from WebSocket client " .. KSR.kx.get_srcip() .. ":" .. KSR.kx.get_srcport())
end

-- ksr_route_withindlg: requests of an established dialog follow the route
-- set recorded when it was made; a request to an aliased contact goes to
-- the connection the alias names. A BYE ends the media session.
function ksr_route_withindlg()
	if KSR.siputils.has_totag() < 0 then
		return 1
	end
	if KSR.rr.loose_route() > 0 then
		if KSR.is_BYE() then
			KSR.rtpengine.rtpengine_delete0()
		end
		KSR.nathelper.handle_ruri_alias()
		ksr_route_relay()
		KSR.x.exit()
	end
	if KSR.is_ACK() then
		if KSR.tm.t_check_trans() > 0 then
			-- the ACK of a negative reply
			ksr_route_relay()
		end
		KSR.x.exit()
	end
	KSR.sl.sl_send_reply(404, "Not here")
	KSR.x.exit()
end

-- ksr_route_registrar: saves the contacts of a REGISTER (the registrar
-- replies itself).
function ksr_route_registrar()
	if KSR.registrar.save("location", 0) < 0 then
		KSR.sl.sl_reply_error()
	end
	debug("registered " .. KSR.kx.gete_tuser())
end

-- ksr_route_location: finds the callee's contacts; 404 when the user is
-- not registered.
function ksr_route_location()
	local rc = KSR.registrar.lookup("location")
	if rc < 0 then
		KSR.tm.t_newtran()
		if rc == -1 or rc == -3 then
			KSR.sl.send_reply(404, "Not Found")
		elseif rc == -2 then
			KSR.sl.send_reply(405, "Method Not Allowed")
		else
			KSR.sl.send_reply(480, "Temporarily Unavailable")
		end
		KSR.x.exit()
	end
	ksr_route_relay()
end

-- ksr_route_relay: relays statefully, with the branch, reply and failure
-- routes that manage the media.
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

-- ksr_branch_manage runs for each branch before it is sent: the offer is
-- rewritten for the callee this branch goes to.
function ksr_branch_manage()
	local dst = KSR.pv.get("$du")
	if dst == nil or dst == "" then
		dst = KSR.pv.get("$ru")
	end
	local to_ws = is_ws_uri(dst)
	if to_ws then
		KSR.setbflag(FLB_DST_WS)
	end
	debug("branch to " .. tostring(dst) .. (to_ws and " (WebSocket)" or ""))
	if KSR.is_INVITE() or KSR.is_UPDATE() then
		if KSR.rtpengine.rtpengine_manage(rtp_flags(to_ws, true)) < 0 then
			KSR.err("rtpengine offer failed for " .. tostring(dst) .. "\n")
		end
	end
end

-- ksr_onreply_manage runs for each reply of a relayed request: the answer
-- is rewritten for the caller, a browser when the request came over
-- WebSocket. A reply from a WebSocket client gets a contact alias, so the
-- caller's in-dialog requests find its connection.
function ksr_onreply_manage()
	local scode = KSR.pv.get("$rs")
	if KSR.is_WSX() then
		KSR.nathelper.add_contact_alias()
	end
	if scode > 100 and scode < 300 and KSR.textops.has_body_type("application/sdp") > 0 then
		if KSR.rtpengine.rtpengine_manage(rtp_flags(KSR.isflagset(FLT_SRC_WS), false)) < 0 then
			KSR.err("rtpengine answer failed for a " .. scode .. "\n")
		end
	end
end

-- ksr_failure_manage: a failed or cancelled call releases its media.
function ksr_failure_manage()
	if KSR.tm.t_is_canceled() > 0 or KSR.tm.t_check_status("[3-6][0-9][0-9]") > 0 then
		KSR.rtpengine.rtpengine_delete0()
	end
end

-- ksr_xhttp_event: Kamailio's way to a WebSocket, an HTTP upgrade on a
-- tcp: or tls: listener. kemi's ws:/wss: listeners do not need it.
function ksr_xhttp_event(evname)
	KSR.set_reply_close()
	KSR.set_reply_no_connect()
	if KSR.pv.get("$rm") == "GET"
			and string.find(string.lower(KSR.pv.gete("$hdr(Upgrade)")), "websocket") then
		if KSR.websocket.handle_handshake() > 0 then
			return 1
		end
	end
	KSR.xhttp.xhttp_reply(404, "Not Found", "", "")
end
