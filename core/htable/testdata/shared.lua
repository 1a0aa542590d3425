-- Tables s (in Redis), d (dbtable in Redis) and m (memory): the user of
-- the Request-URI says what a request does; the reply's X-Vals header
-- shows the result.
function ksr_request_route()
	local op = KSR.pv.get("$rU")
	local out = "ok"
	if op == "inc" then
		for i = 1, 50 do
			KSR.htable.sht_inc("s", "n")
		end
	elseif op == "set" then
		KSR.htable.sht_sets("s", "from", "a")
	elseif op == "dinc" then
		KSR.htable.sht_inc("d", "n")
	else
		local vals = {}
		for _, k in ipairs({"s:n", "s:from", "d:n", "m:preset", "m:inits"}) do
			local t, key = k:match("(%a+):(%a+)")
			vals[#vals + 1] = tostring(KSR.htable.sht_get(t, key))
		end
		out = table.concat(vals, "|")
	end
	KSR.hdr.append_to_reply("X-Vals: " .. out .. "\r\n")
	KSR.sl.sl_send_reply(200, "OK")
end

-- htable:mod-init presets m before any request.
function ksr_htable_event(evname)
	if evname == "htable:mod-init" then
		KSR.htable.sht_seti("m", "preset", 7)
		KSR.htable.sht_inc("m", "inits")
	end
end
