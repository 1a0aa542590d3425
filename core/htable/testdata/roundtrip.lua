-- Run by Kamailio (testdata/kamailio.cfg) and kemi alike: the first
-- request increments t=>n once; every reply shows the table's items.
function ksr_request_route()
	if KSR.htable.sht_get("t", "done") == nil then
		KSR.htable.sht_inc("t", "n")
		KSR.htable.sht_sets("t", "done", "yes")
	end
	local vals = {}
	for _, k in ipairs({"s", "i", "n", "gw[0]", "gw[1]", "gw::size", "done"}) do
		vals[#vals + 1] = tostring(KSR.htable.sht_get("t", k))
	end
	KSR.hdr.append_to_reply("X-Vals: " .. table.concat(vals, "|") .. "\r\n")
	KSR.sl.sl_send_reply(200, "OK")
end
