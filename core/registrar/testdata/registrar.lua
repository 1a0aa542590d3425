-- The registrar of TestRegistrarSameAsKamailio, run unchanged by kemi and
-- by Kamailio 5.6 (app_lua). REGISTER: save with the flags of the X-Flags
-- header; the return value comes back in X-RC. MESSAGE: reg_fetch_contacts
-- for the AOR of the R-URI, every $ulc attribute in X-Ulc headers of a 200.
-- Anything else: lookup and t_relay (X-RC on the 404 when lookup fails).
local attrs = {"addr", "path", "received", "q", "callid", "cseq", "flags",
	"cflags", "user_agent", "methods", "instance", "regid"}

function ksr_request_route()
	if KSR.is_REGISTER() then
		local flags = tonumber(KSR.pv.get("$hdr(X-Flags)") or "0") or 0
		local rc = KSR.registrar.save("location", flags)
		KSR.hdr.append_to_reply("X-RC: " .. rc .. "\r\n")
		if flags % 4 >= 2 then
			-- 0x02: no reply from save
			KSR.registrar.reg_send_reply()
		elseif rc < 0 then
			KSR.sl.sl_reply_error()
		end
		return
	end
	if KSR.is_ACK() then
		KSR.tm.t_relay()
		return
	end
	if KSR.is_method("MESSAGE") then
		local rc = KSR.registrar.reg_fetch_contacts("location", KSR.pv.get("$ru"), "p")
		KSR.hdr.append_to_reply("X-RC: " .. rc .. "\r\n")
		local n = KSR.pv.get("$ulc(p=>count)") or 0
		KSR.hdr.append_to_reply("X-Count: " .. tostring(n) .. "\r\n")
		KSR.hdr.append_to_reply("X-Aor: " .. tostring(KSR.pv.get("$ulc(p=>aor)")) .. "\r\n")
		for i = 0, n - 1 do
			for _, a in ipairs(attrs) do
				local v = KSR.pv.get("$(ulc(p=>" .. a .. ")[" .. i .. "])")
				KSR.hdr.append_to_reply("X-Ulc: " .. i .. " " .. a .. "=" .. tostring(v) .. "\r\n")
			end
		end
		KSR.registrar.reg_free_contacts("p")
		KSR.sl.sl_send_reply(200, "OK")
		return
	end
	local rc = KSR.registrar.lookup("location")
	if rc < 0 then
		KSR.hdr.append_to_reply("X-RC: " .. rc .. "\r\n")
		KSR.sl.sl_send_reply(404, "Not Found")
		return
	end
	KSR.tm.t_relay()
end
