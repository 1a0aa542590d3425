-- The updates of testdata/kamailio.cfg, as a kemi script:
-- TestKamailioSamePage compares the two /metrics pages.
function ksr_request_route()
	KSR.sl.sl_send_reply(404, "Not Here")
end

function ksr_xhttp_event(evname)
	local P = KSR.xhttp_prom
	if KSR.xhttp.get_hu() == "/update" then
		P.counter_inc_l1("requests", 10, "INVITE")
		P.counter_inc_l1("requests", 2, "BYE")
		P.counter_inc_l0("all", 5)
		P.counter_inc_l0("all", 3)
		P.counter_reset_l3("zeroed", "x", "y", "z")
		P.gauge_set_l2("last_cseq", "2.5", "INVITE", "udp")
		P.gauge_set_l0("balance", "1.5")
		P.gauge_set_l0("balance", "-2.5")
		P.histogram_observe_l1("size", "3", "INVITE")
		P.histogram_observe_l1("size", "20", "INVITE")
		P.histogram_observe_l1("size", "70", "INVITE")
		P.histogram_observe_l0("latency", "0.03")
		KSR.xhttp.xhttp_reply(200, "OK", "text/plain", "updated\n")
		return
	end
	if P.check_uri() > 0 then
		P.dispatch()
		return
	end
	KSR.xhttp.xhttp_reply(404, "Not Found", "text/plain", "no such page\n")
end
