-- Stateless forwarding proxy for `make bench`: every request goes to the
-- UAS (BENCH_UAS_URI) with KSR.forward(); replies go back on the Via path.
-- The same shape as Kamailio's bench script, so both can be compared.
local UAS = os.getenv("BENCH_UAS_URI") or "sip:127.0.0.1:5070"

function ksr_request_route()
	if KSR.maxfwd.process_maxfwd(10) < 0 then
		KSR.sl.sl_send_reply(483, "Too Many Hops")
		return 1
	end
	KSR.setdsturi(UAS)
	if KSR.forward() < 0 then
		KSR.sl.sl_send_reply(500, "Forward failed")
	end
	return 1
end

function ksr_reply_route()
	return 1
end
