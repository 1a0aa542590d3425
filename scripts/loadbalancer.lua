-- loadbalancer.lua: a SIP load balancer in front of a pool of servers
-- (media servers, PBXs, SBCs), with failover, for kemi and for Kamailio
-- 5.6 with app_lua (the same file runs on both).
--
--   kemi run -f scripts/loadbalancer.lua -c scripts/testdata/loadbalancer.toml
--   kemi run -f scripts/loadbalancer.lua -D LB_ALG=9 ...
--
-- The pool is dispatcher set 1, read from a Kamailio dispatcher.list file
-- (scripts/testdata/dispatcher.list is a sample):
--
--   # setid destination flags priority attrs
--   1 sip:10.0.0.11:5060 0 0 weight=50;rweight=50
--   1 sip:10.0.0.12:5060 0 0 weight=30;rweight=30
--
-- What it does with a request, in order:
--   * drops looping requests (Max-Forwards: 483) and malformed ones (sanity);
--   * answers OPTIONS sent to the balancer itself (no user in the
--     Request-URI) with 200: the keepalive of peers and monitors;
--   * relays a CANCEL to the branches of its INVITE;
--   * sends in-dialog requests (a To tag) along their Route set: the
--     balancer record-routes, so the ACK, re-INVITE and BYE of a call go
--     through it to the server that took the call;
--   * absorbs retransmissions;
--   * record-routes INVITE and SUBSCRIBE;
--   * a request from one of the pool's servers to another domain (an
--     outbound call) goes to its Request-URI;
--   * any other new request goes to a server of the pool chosen by the
--     dispatcher algorithm (LB_ALG, round robin by default); when the set
--     has no usable server the caller gets 503;
--   * when that server answers 408 (it did not answer at all: tm's
--     fr_timer ran out) or 5xx, the failure route marks it inactive and
--     probing, so that it leaves rotation (and, with health checks on,
--     comes back once it answers OPTIONS again), and tries the next server
--     of the set; once none is left the caller gets 503.
--
-- Defines (kemi: -D NAME=VALUE or `defines` in kemi.toml; Kamailio:
-- -A NAME=VALUE or #!define):
--   LB_SET      the dispatcher set of the pool (default 1)
--   LB_ALG      the dispatcher algorithm (default 4):
--                 0 hash of the Call-ID      1 hash of the From URI
--                 2 hash of the To URI       3 hash of the R-URI user
--                 4 round robin              5 hash of the auth username
--                 6 random                   7 hash of dispatcher hash_pvar
--                 8 priority order           9 weight (attrs weight=N)
--                10 call load               11 relative weight (rweight=N)
--   WITH_DEBUG  logs each routing decision
--
-- Module parameters it needs (kemi.toml; Kamailio: modparam):
--   [dispatcher] list_file = "dispatcher.list"
--                flags = 2   -- keep the other servers for ds_next_dst
--   [tm]         fr_timer = 2000  -- ms: a server silent that long is down
-- and, for health checks, dispatcher's ds_ping_interval and
-- ds_probing_threshold (see core/dispatcher/README.md).

-- Read once per worker, on the first request: at load time Kamailio has
-- no message for KSR calls.
local lb_set, lb_alg, lb_debug

local function debug(msg)
	if lb_debug then
		KSR.info(msg)
	end
end

-- lb_config reads the defines LB_SET, LB_ALG and WITH_DEBUG.
local function lb_config()
	if lb_set ~= nil then
		return
	end
	lb_set, lb_alg = 1, 4
	lb_debug = KSR.kx.ifdef("WITH_DEBUG")
	if KSR.kx.ifdef("LB_SET") then
		lb_set = KSR.kx.get_defn("LB_SET")
	end
	if KSR.kx.ifdef("LB_ALG") then
		lb_alg = KSR.kx.get_defn("LB_ALG")
	end
end

-- ksr_request_route runs for every request received.
function ksr_request_route()
	lb_config()
	ksr_route_reqinit()

	if KSR.is_CANCEL() then
		if KSR.tm.t_check_trans() > 0 then
			ksr_route_relay()
		end
		return 1
	end

	ksr_route_withindlg()

	-- a retransmission belongs to a transaction that exists: tm resends
	-- its last reply, if any
	if KSR.tmx.t_precheck_trans() > 0 then
		KSR.tm.t_check_trans()
		return 1
	end
	if KSR.tm.t_check_trans() == 0 then
		return 1
	end

	-- a Route header on a new request is not ours to follow
	KSR.hdr.remove("Route")
	if KSR.is_method_in("IS") then
		KSR.rr.record_route()
	end

	-- outbound: a server of the pool calls another domain
	if KSR.dispatcher.ds_is_from_list(lb_set) > 0 and not KSR.is_myself_ruri() then
		debug("from the pool to " .. KSR.kx.get_ruri())
		ksr_route_relay()
	end

	ksr_route_dispatch()
end

-- ksr_route_reqinit: basic checks of an incoming request.
function ksr_route_reqinit()
	if KSR.maxfwd.process_maxfwd(10) < 0 then
		KSR.sl.sl_send_reply(483, "Too Many Hops")
		KSR.x.exit()
	end
	if KSR.sanity.sanity_check(17895, 7) < 0 then
		KSR.err("malformed SIP request from " .. KSR.kx.get_srcip() .. ":" .. KSR.kx.get_srcport())
		KSR.x.exit()
	end
	-- a keepalive for the balancer itself, not for the pool
	if KSR.is_OPTIONS() and KSR.is_myself_ruri() and KSR.corex.has_ruri_user() < 0 then
		KSR.sl.sl_send_reply(200, "Keepalive")
		KSR.x.exit()
	end
end

-- ksr_route_withindlg: requests of an established dialog follow the Route
-- set the balancer's Record-Route put in it.
function ksr_route_withindlg()
	if KSR.siputils.has_totag() < 0 then
		return 1
	end
	if KSR.rr.loose_route() > 0 then
		ksr_route_relay()
	end
	if KSR.is_ACK() then
		if KSR.tm.t_check_trans() > 0 then
			-- the ACK of a negative reply whose transaction is gone
			ksr_route_relay()
		end
		KSR.x.exit()
	end
	KSR.sl.sl_send_reply(404, "Not here")
	KSR.x.exit()
end

-- ksr_route_dispatch: pick a server of the pool ($du) and relay to it,
-- ready to fail over.
function ksr_route_dispatch()
	if KSR.dispatcher.ds_select_dst(lb_set, lb_alg) < 0 then
		-- the set is missing, empty or every server is down
		debug("no server usable in set " .. lb_set)
		KSR.sl.sl_send_reply(503, "Service Unavailable")
		KSR.x.exit()
	end
	debug("to " .. KSR.kx.get_duri())
	KSR.tm.t_on_failure("ksr_failure_dispatch")
	ksr_route_relay()
end

-- ksr_route_relay: stateful relay; a relay that fails at once (the
-- destination does not resolve, the send failed) is answered here.
function ksr_route_relay()
	if KSR.tm.t_relay() < 0 then
		KSR.sl.sl_reply_error()
	end
	KSR.x.exit()
end

-- ksr_failure_dispatch runs when the server chosen did not take the
-- request: it answered 5xx, or nothing (408 from tm's own timer).
function ksr_failure_dispatch()
	if KSR.tm.t_is_canceled() > 0 then
		return 1
	end
	if KSR.tm.t_check_status("408|5[0-9][0-9]") < 0 then
		-- 4xx and 6xx are the callee's answer: it goes upstream
		return 1
	end
	debug("server " .. KSR.kx.get_duri() .. " failed: " .. KSR.pv.get("$T_reply_code"))
	-- out of rotation; "p": health checks bring it back when it answers
	KSR.dispatcher.ds_mark_dst_state("ip")
	if KSR.dispatcher.ds_next_dst() < 0 then
		KSR.tm.t_reply(503, "Service Unavailable")
		return 1
	end
	debug("failover to " .. KSR.kx.get_duri())
	KSR.tm.t_on_failure("ksr_failure_dispatch")
	if KSR.tm.t_relay() < 0 then
		KSR.tm.t_reply(503, "Service Unavailable")
	end
end
