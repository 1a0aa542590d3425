-- Transaction-stateful proxy for `make bench`, in the shape of Kamailio's
-- basic example: maxfwd, CANCEL, loose routing for in-dialog requests,
-- retransmission checks, record-route, t_relay() to the UAS with a failure
-- route. The same script runs under Kamailio for comparison.

-- next hop: bench.sh passes -D BENCH_UAS_URI (default UAS port 5070)
local UAS -- read on first use: KSR calls are for routes, not the top level

local function uas()
	if not UAS then
		local v = KSR.kx.get_def("BENCH_UAS_URI") -- nil or "" when not defined
		if v == nil or v == "" then v = "sip:127.0.0.1:5070" end
		UAS = v
	end
	return UAS
end

local FLT_DO_SANITY = false  -- set true to pay for sanity_check() per request

local function relay()
	if KSR.tm.t_relay() < 0 then
		KSR.sl.sl_reply_error()
	end
	KSR.x.exit()
end

local function route_withindlg()
	if KSR.siputils.has_totag() < 0 then return end
	if KSR.rr.loose_route() > 0 then
		-- Route header was ours; next hop is now the R-URI / next Route
		if KSR.is_ACK() or KSR.is_BYE() then
			-- nothing special in the benchmark
		end
		relay()
	end
	-- no (usable) Route header: sipp's built-in uac does not honour
	-- Record-Route, so in-dialog requests arrive addressed to the proxy.
	if KSR.is_ACK() then
		if KSR.tm.t_check_trans() > 0 then
			-- ACK to a negative reply of a known transaction
			relay()
		end
	end
	KSR.setdsturi(uas())
	relay()
end

function ksr_request_route()
	if KSR.maxfwd.process_maxfwd(10) < 0 then
		KSR.sl.sl_send_reply(483, "Too Many Hops")
		KSR.x.exit()
	end
	if FLT_DO_SANITY and KSR.sanity.sanity_check(17895, 7) < 0 then
		KSR.x.exit()
	end

	if KSR.is_CANCEL() then
		if KSR.tm.t_check_trans() > 0 then relay() end
		KSR.x.exit()
	end

	route_withindlg()

	-- initial requests
	if KSR.tmx.t_precheck_trans() > 0 then
		KSR.tm.t_check_trans()
		KSR.x.exit()
	end
	KSR.tm.t_check_trans()

	if KSR.is_method_in("IS") then  -- INVITE or SUBSCRIBE
		KSR.rr.record_route()
	end

	KSR.setdsturi(uas())
	KSR.tm.t_on_failure("ksr_failure_manage")
	relay()
	return 1
end

-- global onreply route (all replies)
function ksr_reply_route()
	return 1
end

function ksr_failure_manage()
	if KSR.tm.t_is_canceled() > 0 then return 1 end
	-- nothing to fail over to in the benchmark; let the reply go upstream
	return 1
end
