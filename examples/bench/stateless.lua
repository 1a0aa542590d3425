-- Stateless forwarding proxy for `make bench`: every request goes to the
-- UAS with KSR.forward(); replies go back on the Via path. The same shape
-- as Kamailio's bench script, so both can be compared.

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

function ksr_request_route()
	if KSR.maxfwd.process_maxfwd(10) < 0 then
		KSR.sl.sl_send_reply(483, "Too Many Hops")
		return 1
	end
	KSR.setdsturi(uas())
	if KSR.forward() < 0 then
		KSR.sl.sl_send_reply(500, "Forward failed")
	end
	return 1
end

function ksr_reply_route()
	return 1
end
